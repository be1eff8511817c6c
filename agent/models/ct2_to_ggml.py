#!/usr/bin/env python3
"""Convert a CTranslate2 Whisper model directory to a whisper.cpp ggml model file.

Usage: ct2_to_ggml.py [-v] [--quantize q8_0|q5_1] SRC_DIR OUT_FILE

SRC_DIR is a CTranslate2 Whisper model (as loaded by faster-whisper): model.bin,
plus vocabulary.txt (or vocabulary.json); tokenizer.json is cross-checked when present.
OUT_FILE receives the legacy ggml format read by whisper.cpp's `whisper_model_load`
(1.8.x and later):

    int32 magic 0x67676d6c ("ggml")
    int32 hparams: n_vocab n_audio_ctx n_audio_state n_audio_head n_audio_layer
                   n_text_ctx n_text_state n_text_head n_text_layer n_mels ftype
    int32 n_mel, int32 n_fft, float32[n_mel * n_fft]   mel filterbank (slaney)
    int32 n_tokens, then per token: int32 len, bytes   (byte-level BPE tokens, decoded)
    per tensor: int32 n_dims, int32 name_len, int32 ttype (0 f32, 1 f16, 7 q5_1, 8 q8_0),
                int32 ne[n_dims] (innermost first, i.e. numpy shape reversed),
                name bytes, raw little-endian data

CTranslate2 fuses attention projections: self-attention `linear_0` is [q; k; v] and
cross-attention `linear_1` is [k; v]. They are split back; the key bias (zeros in
CTranslate2, absent in Whisper, and without effect on softmax attention) is dropped
because whisper.cpp has no key bias tensor.

Matrix and conv weights are written as f16 (ftype 1); biases, norms, positional embeddings
and conv biases as f32, as whisper.cpp's loader requires. (There is no all-f32 option:
whisper.cpp 1.8.x loads an ftype-0 model but aborts in im2col, which needs f16 conv weights.)
The output is deterministic: same input, same bytes.

--quantize q8_0 (or q5_1) writes what whisper.cpp's `quantize` tool (examples/quantize,
ggml_common_quantize_0) makes of the f16 file, byte for byte:
  * hparams.ftype = GGML_QNT_VERSION * GGML_QNT_VERSION_FACTOR + ggml_ftype
    = 2 * 1000 + 7 = 2007 for q8_0 (GGML_FTYPE_MOSTLY_Q8_0), 2009 for q5_1; the loader takes
    ftype % 1000 as the weight type (wtype) of its 2-D weights;
  * quantised: the 2-D tensors except the positional embeddings and conv biases, i.e. every
    attention/MLP weight and the token embedding (exactly the tensors whisper.cpp creates with
    wtype); conv weights (3-D) stay f16 (the loader creates them f16 for any quantised wtype, and
    im2col is f16-only); biases, norms, positional embeddings stay f32;
  * values: the f16 weights widened to f32, then ggml's reference block quantiser
    (ggml-quants.c quantize_row_q8_0_ref / quantize_row_q5_1_ref) along each row in blocks of 32,
    so every row length (ne[0]) must be a multiple of 32.
"""

import argparse
import json
import math
import os
import struct
import sys
from pathlib import Path

import numpy as np

GGML_MAGIC = 0x67676D6C
GGML_FTYPE_MOSTLY_F16 = 1
GGML_TYPE_F32, GGML_TYPE_F16 = 0, 1
# ggml.h: GGML_QNT_VERSION 2, GGML_QNT_VERSION_FACTOR 1000 (the loader splits hparams.ftype by it)
GGML_QNT_VERSION = 2
GGML_QNT_VERSION_FACTOR = 1000
QK = 32  # block size of q8_0 and q5_1 (QK8_0, QK5_1)
# name -> (ggml_ftype for the header, ggml_type of the quantised tensors, bytes per block of 32)
QUANT_TYPES = {
    "q8_0": (7, 8, 34),   # GGML_FTYPE_MOSTLY_Q8_0, GGML_TYPE_Q8_0, block_q8_0 {f16 d; int8 qs[32]}
    "q5_1": (9, 7, 24),   # GGML_FTYPE_MOSTLY_Q5_1, GGML_TYPE_Q5_1, block_q5_1 {f16 d, m; u8 qh[4]; u8 qs[16]}
}
SAMPLE_RATE = 16000
N_FFT = 400

# CTranslate2 DataType enum order (include/ctranslate2/types.h, model_spec._dtype_to_type_id)
CT2_DTYPES = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}
CT2_SUPPORTED_BINARY_VERSIONS = (4, 5, 6)


class ConversionError(Exception):
    """A source model problem, with a message naming the file and the item at fault."""


# --------------------------------------------------------------------------------------
# CTranslate2 model.bin reader (format: ctranslate2/specs/model_spec.py ModelSpec._serialize)
# --------------------------------------------------------------------------------------

class _Reader:
    def __init__(self, path, data):
        self.path = path
        self.data = data
        self.pos = 0

    def take(self, n, what):
        if self.pos + n > len(self.data):
            raise ConversionError(
                f"{self.path}: truncated file: needed {n} bytes for {what} at offset {self.pos}, "
                f"only {len(self.data) - self.pos} left (file size {len(self.data)})"
            )
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt, what):
        fmt = "<" + fmt
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what):
        n = self.unpack("H", f"length of {what}")
        raw = self.take(n, what)
        if n == 0 or raw[-1] != 0:
            raise ConversionError(f"{self.path}: malformed string for {what} at offset {self.pos - n}")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError:
            raise ConversionError(f"{self.path}: {what} is not valid UTF-8 at offset {self.pos - n}")


def _bf16_to_f32(raw):
    u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32)
    return (u16 << 16).view(np.float32)


def read_ct2_model(path):
    """Parse a CTranslate2 model.bin. Returns (spec_name, revision, variables, aliases).

    variables: dict name -> numpy array (float arrays keep their stored dtype, bf16 -> f32).
    aliases: dict alias -> target variable name.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConversionError(f"{path}: cannot read: {e.strerror}")
    r = _Reader(path, data)
    version = r.unpack("I", "binary version")
    if version not in CT2_SUPPORTED_BINARY_VERSIONS:
        raise ConversionError(
            f"{path}: unsupported CTranslate2 binary version {version} "
            f"(supported: {', '.join(map(str, CT2_SUPPORTED_BINARY_VERSIONS))})"
        )
    spec = r.string("spec name")
    revision = r.unpack("I", "spec revision")
    n_vars = r.unpack("I", "variable count")
    variables = {}
    for i in range(n_vars):
        name = r.string(f"name of variable #{i}")
        rank = r.unpack("B", f"rank of '{name}'")
        shape = tuple(r.unpack("I", f"shape of '{name}'") for _ in range(rank))
        type_id = r.unpack("B", f"dtype of '{name}'")
        if type_id not in CT2_DTYPES:
            raise ConversionError(f"{path}: variable '{name}' has unknown dtype id {type_id}")
        dtype = CT2_DTYPES[type_id]
        num_bytes = r.unpack("I", f"byte size of '{name}'")
        item = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
        count = int(np.prod(shape, dtype=np.int64)) if rank else 1
        if num_bytes != count * item:
            raise ConversionError(
                f"{path}: variable '{name}' shape {list(shape)} {dtype} needs {count * item} bytes, "
                f"header says {num_bytes}"
            )
        raw = r.take(num_bytes, f"data of '{name}' ({num_bytes} bytes)")
        if dtype == "bfloat16":
            arr = _bf16_to_f32(raw)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
        if name in variables:
            raise ConversionError(f"{path}: duplicate variable '{name}'")
        variables[name] = arr.reshape(shape)
    aliases = {}
    n_aliases = r.unpack("I", "alias count")
    for i in range(n_aliases):
        alias = r.string(f"alias #{i}")
        target = r.string(f"target of alias '{alias}'")
        aliases[alias] = target
    if r.pos != len(data):
        raise ConversionError(f"{path}: {len(data) - r.pos} unexpected trailing bytes after the alias table")
    return spec, revision, variables, aliases


# --------------------------------------------------------------------------------------
# Mel filterbank: librosa.filters.mel(sr, n_fft, n_mels, htk=False, norm="slaney")
# --------------------------------------------------------------------------------------

_F_SP = 200.0 / 3.0           # Hz per mel below 1 kHz (Slaney)
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def _hz_to_mel(f):
    if f >= _MIN_LOG_HZ:
        return _MIN_LOG_MEL + math.log(f / _MIN_LOG_HZ) / _LOGSTEP
    return f / _F_SP


def _mel_to_hz(m):
    if m >= _MIN_LOG_MEL:
        return _MIN_LOG_HZ * math.exp(_LOGSTEP * (m - _MIN_LOG_MEL))
    return _F_SP * m


def mel_filters(n_mels, sr=SAMPLE_RATE, n_fft=N_FFT):
    """Slaney-style triangular mel filters, shape [n_mels, n_fft // 2 + 1], float32.

    Same construction as librosa.filters.mel (and Whisper's mel_filters.npz). The
    transcendental functions use Python's math module element by element, so the
    result does not depend on numpy's SIMD code paths.
    """
    n_bins = n_fft // 2 + 1
    fftfreqs = np.arange(n_bins, dtype=np.float64) * (sr / n_fft)
    max_mel = _hz_to_mel(sr / 2.0)
    mels = np.linspace(0.0, max_mel, n_mels + 2)
    freqs = np.array([_mel_to_hz(float(m)) for m in mels], dtype=np.float64)
    fdiff = np.diff(freqs)
    ramps = freqs[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    enorm = 2.0 / (freqs[2:n_mels + 2] - freqs[:n_mels])
    weights *= enorm[:, None]
    return weights.astype(np.float32)


# --------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------

def bytes_to_unicode():
    """GPT-2 byte <-> unicode table (openai/gpt-2 encoder.py), as in convert-pt-to-ggml.py."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def load_vocabulary(src_dir):
    """Token strings in id order, from vocabulary.txt or vocabulary.json (CTranslate2)."""
    txt = src_dir / "vocabulary.txt"
    js = src_dir / "vocabulary.json"
    if txt.is_file():
        text = txt.read_text(encoding="utf-8")
        tokens = text.split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        return txt, tokens
    if js.is_file():
        tokens = json.loads(js.read_text(encoding="utf-8"))
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ConversionError(f"{js}: expected a JSON list of strings")
        return js, tokens
    raise ConversionError(f"{src_dir}: no vocabulary.txt or vocabulary.json")


def check_tokenizer_json(path, tokens):
    """Cross-check tokenizer.json's ids against the CTranslate2 vocabulary."""
    try:
        tok = json.loads(path.read_text(encoding="utf-8"))
        vocab = dict(tok["model"]["vocab"])
        for added in tok.get("added_tokens", []):
            vocab[added["content"]] = added["id"]
    except (KeyError, TypeError, ValueError) as e:
        raise ConversionError(f"{path}: not a Hugging Face tokenizer.json ({e})")
    for text, idx in vocab.items():
        if not (0 <= idx < len(tokens)) or tokens[idx] != text:
            have = tokens[idx] if 0 <= idx < len(tokens) else "<out of range>"
            raise ConversionError(
                f"{path}: token id {idx} is {text!r} but the CTranslate2 vocabulary has {have!r}"
            )


def ggml_vocab(vocab_path, tokens):
    """The byte strings whisper.cpp expects: the BPE tokens before <|endoftext|>.

    whisper.cpp derives the special tokens (<|endoftext|>, <|startoftranscript|>, languages,
    timestamps) from n_vocab itself, so like convert-pt-to-ggml.py (tiktoken) only the
    ordinary tokens are written: 50256 for English-only models, 50257 for multilingual.
    """
    try:
        eot = tokens.index("<|endoftext|>")
    except ValueError:
        raise ConversionError(f"{vocab_path}: no '<|endoftext|>' token")
    decoder = {c: b for b, c in bytes_to_unicode().items()}
    out = []
    for i, t in enumerate(tokens[:eot]):
        try:
            out.append(bytes(decoder[c] for c in t))
        except KeyError as e:
            raise ConversionError(
                f"{vocab_path}: token {i} {t!r} has character {e.args[0]!r} outside the GPT-2 byte alphabet"
            )
    return out


# --------------------------------------------------------------------------------------
# Tensor mapping
# --------------------------------------------------------------------------------------

def expected_tensor_names(n_audio_layer, n_text_layer):
    """The 11 + 15*n_audio_layer + 24*n_text_layer names whisper.cpp's loader requires (in write order)."""
    names = ["encoder.positional_embedding", "encoder.conv1.weight", "encoder.conv1.bias",
             "encoder.conv2.weight", "encoder.conv2.bias"]
    for i in range(n_audio_layer):
        p = f"encoder.blocks.{i}"
        names += [f"{p}.attn.query.weight", f"{p}.attn.query.bias", f"{p}.attn.key.weight",
                  f"{p}.attn.value.weight", f"{p}.attn.value.bias", f"{p}.attn.out.weight", f"{p}.attn.out.bias",
                  f"{p}.attn_ln.weight", f"{p}.attn_ln.bias",
                  f"{p}.mlp.0.weight", f"{p}.mlp.0.bias", f"{p}.mlp.2.weight", f"{p}.mlp.2.bias",
                  f"{p}.mlp_ln.weight", f"{p}.mlp_ln.bias"]
    names += ["encoder.ln_post.weight", "encoder.ln_post.bias",
              "decoder.positional_embedding", "decoder.token_embedding.weight"]
    for i in range(n_text_layer):
        p = f"decoder.blocks.{i}"
        names += [f"{p}.attn.query.weight", f"{p}.attn.query.bias", f"{p}.attn.key.weight",
                  f"{p}.attn.value.weight", f"{p}.attn.value.bias", f"{p}.attn.out.weight", f"{p}.attn.out.bias",
                  f"{p}.attn_ln.weight", f"{p}.attn_ln.bias",
                  f"{p}.cross_attn.query.weight", f"{p}.cross_attn.query.bias", f"{p}.cross_attn.key.weight",
                  f"{p}.cross_attn.value.weight", f"{p}.cross_attn.value.bias",
                  f"{p}.cross_attn.out.weight", f"{p}.cross_attn.out.bias",
                  f"{p}.cross_attn_ln.weight", f"{p}.cross_attn_ln.bias",
                  f"{p}.mlp.0.weight", f"{p}.mlp.0.bias", f"{p}.mlp.2.weight", f"{p}.mlp.2.bias",
                  f"{p}.mlp_ln.weight", f"{p}.mlp_ln.bias"]
    names += ["decoder.ln.weight", "decoder.ln.bias"]
    return names


def is_f16_candidate(name, ndim):
    """Which tensors may be f16: 2-D+ weights except the positional embeddings (whisper.cpp
    creates biases, norms, positional embeddings and conv biases as GGML_TYPE_F32)."""
    return ndim >= 2 and name not in ("encoder.positional_embedding", "decoder.positional_embedding") \
        and not name.endswith(".bias")


# whisper.cpp examples/quantize/quantize.cpp: tensors never quantised (besides all non-2-D ones)
QUANT_SKIP = ("encoder.conv1.bias", "encoder.conv2.bias",
              "encoder.positional_embedding", "decoder.positional_embedding")


def is_quant_candidate(name, ndim):
    """Which tensors whisper.cpp's quantize tool quantises: 2-D, not in its skip list. (Biases and
    norms are 1-D; conv weights are 3-D and stay f16.)"""
    return ndim == 2 and name not in QUANT_SKIP


# --------------------------------------------------------------------------------------
# ggml block quantisation (ggml/src/ggml-quants.c reference quantisers, whisper.cpp 1.8.3)
#
# Every step is the same IEEE single-precision operation as the C code (max/min, one division,
# one reciprocal, one multiply or subtract-then-multiply), and float32 -> f16 is round-to-nearest-
# even in both numpy and ggml, so the bytes match ggml_quantize_chunk exactly.
# --------------------------------------------------------------------------------------

_CHUNK_BLOCKS = 1 << 16  # blocks per numpy step (bounds the temporaries to a few MB)


def _reciprocal(d):
    """C `d ? 1.0f/d : 0.0f`, element-wise in float32."""
    out = np.zeros_like(d)
    np.divide(np.float32(1.0), d, out=out, where=d != 0)
    return out


def _roundf(x):
    """C roundf (halves away from zero) of float32 values; exact: |x| + 0.5 in float64 is exact."""
    return np.copysign(np.floor(np.abs(x).astype(np.float64) + 0.5), x)


def quantize_q8_0(x):
    """float32 array (size a multiple of 32) -> bytes of block_q8_0[size / 32]
    (quantize_row_q8_0_ref: d = max|x| / 127, qs = roundf(x * (1/d)))."""
    b = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, QK)
    out = np.empty(len(b), dtype=np.dtype([("d", "<f2"), ("qs", "i1", (QK,))]))
    for s in range(0, len(b), _CHUNK_BLOCKS):
        c = b[s:s + _CHUNK_BLOCKS]
        d = np.max(np.abs(c), axis=1) / np.float32(127)
        x0 = c * _reciprocal(d)[:, None]
        out["d"][s:s + len(c)] = d.astype(np.float16)
        out["qs"][s:s + len(c)] = _roundf(x0).astype(np.int8)
    return out.tobytes()


def quantize_q5_1(x):
    """float32 array (size a multiple of 32) -> bytes of block_q5_1[size / 32]
    (quantize_row_q5_1_ref: d = (max - min) / 31, m = min, q = (uint8)((x - min) * (1/d) + 0.5f);
    low nibbles: qs[j] = q[j] | q[j + 16] << 4; fifth bits: bit k of the uint32 qh is bit 4 of q[k])."""
    b = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, QK)
    out = np.empty(len(b), dtype=np.dtype([("d", "<f2"), ("m", "<f2"), ("qh", "<u4"), ("qs", "u1", (QK // 2,))]))
    bit = np.left_shift(np.uint32(1), np.arange(QK, dtype=np.uint32))
    for s in range(0, len(b), _CHUNK_BLOCKS):
        c = b[s:s + _CHUNK_BLOCKS]
        lo = np.min(c, axis=1)
        d = (np.max(c, axis=1) - lo) / np.float32(31)
        x0 = (c - lo[:, None]) * _reciprocal(d)[:, None]
        q = (x0 + np.float32(0.5)).astype(np.uint8)  # C float -> uint8_t truncates; values in [0, 31]
        n = len(c)
        out["d"][s:s + n] = d.astype(np.float16)
        out["m"][s:s + n] = lo.astype(np.float16)
        out["qh"][s:s + n] = (((q >> 4) & 1).astype(np.uint32) * bit).sum(axis=1, dtype=np.uint32)
        out["qs"][s:s + n] = (q[:, :QK // 2] & 0x0F) | ((q[:, QK // 2:] & 0x0F) << 4)
    return out.tobytes()


QUANTIZERS = {"q8_0": quantize_q8_0, "q5_1": quantize_q5_1}


# CTranslate2 variables holding configuration, not weights (rank 0).
_CT2_SCALARS = {
    "encoder/num_heads", "decoder/num_heads", "decoder/activation", "decoder/alibi",
    "decoder/alignment_heads", "decoder/alignment_layer", "decoder/pre_norm",
    "decoder/scale_embeddings", "decoder/start_from_zero_embedding",
    "decoder/alibi_use_positive_positions", "decoder/scale_alibi", "decoder/rotary_dim",
    "decoder/rotary_interleave", "decoder/rotary_scaling_type", "decoder/rotary_scaling_factor",
    "decoder/rotary_base", "decoder/multi_query", "decoder/num_heads_kv", "decoder/sliding_window",
    "encoder/pre_norm", "encoder/activation",
}


class _Source:
    """Variables of a CT2 model, tracking which were consumed."""

    def __init__(self, path, variables, aliases):
        self.path = path
        self.vars = variables
        self.aliases = aliases
        self.used = set()

    def get(self, name, shape=None):
        if name not in self.vars:
            if name in self.aliases:
                name = self.aliases[name]
            else:
                raise ConversionError(f"{self.path}: missing tensor '{name}'")
        arr = self.vars[name]
        if shape is not None and tuple(arr.shape) != tuple(shape):
            raise ConversionError(
                f"{self.path}: tensor '{name}' has shape {list(arr.shape)}, expected {list(shape)}"
            )
        if arr.dtype.kind != "f":
            raise ConversionError(
                f"{self.path}: tensor '{name}' is {arr.dtype.name}; only float32/float16/bfloat16 models are "
                f"supported (quantized CTranslate2 models cannot be converted; use the float16 model)"
            )
        self.used.add(name)
        return arr

    def scalar(self, name):
        if name not in self.vars:
            raise ConversionError(f"{self.path}: missing scalar '{name}'")
        arr = self.vars[name]
        if arr.shape != ():
            raise ConversionError(f"{self.path}: '{name}' should be a scalar, has shape {list(arr.shape)}")
        self.used.add(name)
        return arr.item()

    def check_all_used(self):
        left = sorted(n for n in self.vars if n not in self.used and n not in _CT2_SCALARS)
        if left:
            raise ConversionError(
                f"{self.path}: unexpected tensor(s) not mapped to whisper.cpp: {', '.join(left)}"
            )


def map_tensors(src, hp):
    """Yield (ggml_name, array) in write order, per the mapping table in docs/MODELS.md."""
    d = hp["n_audio_state"]
    n_mels = hp["n_mels"]
    out = {}

    def linear(ct2, ggml, n_out, n_in):
        out[f"{ggml}.weight"] = src.get(f"{ct2}/weight", (n_out, n_in))
        out[f"{ggml}.bias"] = src.get(f"{ct2}/bias", (n_out,))

    def norm(ct2, ggml, n):
        out[f"{ggml}.weight"] = src.get(f"{ct2}/gamma", (n,))
        out[f"{ggml}.bias"] = src.get(f"{ct2}/beta", (n,))

    def split(ct2, ggml_parts, n):
        """Split a fused [a; b; ...] projection; parts named None are the key (weight only)."""
        w = src.get(f"{ct2}/weight", (n * len(ggml_parts), n))
        b = src.get(f"{ct2}/bias", (n * len(ggml_parts),))
        for j, (g, has_bias) in enumerate(ggml_parts):
            out[f"{g}.weight"] = w[j * n:(j + 1) * n]
            if has_bias:
                out[f"{g}.bias"] = b[j * n:(j + 1) * n]

    out["encoder.positional_embedding"] = src.get("encoder/position_encodings/encodings", (hp["n_audio_ctx"], d))
    out["encoder.conv1.weight"] = src.get("encoder/conv1/weight", (d, n_mels, 3))
    out["encoder.conv1.bias"] = src.get("encoder/conv1/bias", (d,)).reshape(d, 1)
    out["encoder.conv2.weight"] = src.get("encoder/conv2/weight", (d, d, 3))
    out["encoder.conv2.bias"] = src.get("encoder/conv2/bias", (d,)).reshape(d, 1)
    for i in range(hp["n_audio_layer"]):
        c, g = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        split(f"{c}/self_attention/linear_0",
              [(f"{g}.attn.query", True), (f"{g}.attn.key", False), (f"{g}.attn.value", True)], d)
        linear(f"{c}/self_attention/linear_1", f"{g}.attn.out", d, d)
        norm(f"{c}/self_attention/layer_norm", f"{g}.attn_ln", d)
        linear(f"{c}/ffn/linear_0", f"{g}.mlp.0", 4 * d, d)
        linear(f"{c}/ffn/linear_1", f"{g}.mlp.2", d, 4 * d)
        norm(f"{c}/ffn/layer_norm", f"{g}.mlp_ln", d)
    norm("encoder/layer_norm", "encoder.ln_post", d)

    dt = hp["n_text_state"]
    out["decoder.positional_embedding"] = src.get("decoder/position_encodings/encodings", (hp["n_text_ctx"], dt))
    emb = src.get("decoder/embeddings/weight", (hp["n_vocab"], dt))
    out["decoder.token_embedding.weight"] = emb
    for i in range(hp["n_text_layer"]):
        c, g = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        split(f"{c}/self_attention/linear_0",
              [(f"{g}.attn.query", True), (f"{g}.attn.key", False), (f"{g}.attn.value", True)], dt)
        linear(f"{c}/self_attention/linear_1", f"{g}.attn.out", dt, dt)
        norm(f"{c}/self_attention/layer_norm", f"{g}.attn_ln", dt)
        linear(f"{c}/attention/linear_0", f"{g}.cross_attn.query", dt, dt)
        split(f"{c}/attention/linear_1", [(f"{g}.cross_attn.key", False), (f"{g}.cross_attn.value", True)], dt)
        linear(f"{c}/attention/linear_2", f"{g}.cross_attn.out", dt, dt)
        norm(f"{c}/attention/layer_norm", f"{g}.cross_attn_ln", dt)
        linear(f"{c}/ffn/linear_0", f"{g}.mlp.0", 4 * dt, dt)
        linear(f"{c}/ffn/linear_1", f"{g}.mlp.2", dt, 4 * dt)
        norm(f"{c}/ffn/layer_norm", f"{g}.mlp_ln", dt)
    norm("decoder/layer_norm", "decoder.ln", dt)

    # The output projection is tied to the token embedding in Whisper (CTranslate2 stores an alias).
    proj = "decoder/projection/weight"
    if proj in src.vars:
        if not np.array_equal(src.vars[proj], emb):
            raise ConversionError(
                f"{src.path}: '{proj}' differs from 'decoder/embeddings/weight'; whisper.cpp requires tied weights"
            )
        src.used.add(proj)
    elif src.aliases.get(proj, "decoder/embeddings/weight") != "decoder/embeddings/weight":
        raise ConversionError(f"{src.path}: '{proj}' aliases '{src.aliases[proj]}', expected the token embedding")
    if "decoder/projection/bias" in src.vars:
        if np.any(src.vars["decoder/projection/bias"]):
            raise ConversionError(f"{src.path}: 'decoder/projection/bias' is non-zero; whisper.cpp has no output bias")
        src.used.add("decoder/projection/bias")

    if src.vars.get("decoder/scale_embeddings") is not None and bool(src.vars["decoder/scale_embeddings"]):
        raise ConversionError(f"{src.path}: 'decoder/scale_embeddings' is set; Whisper does not scale embeddings")

    src.check_all_used()
    names = expected_tensor_names(hp["n_audio_layer"], hp["n_text_layer"])
    assert sorted(names) == sorted(out), "internal error: tensor list mismatch"
    for name in names:
        yield name, out[name]


def _count_layers(variables, prefix):
    n = 0
    while any(k.startswith(f"{prefix}/layer_{n}/") for k in variables):
        n += 1
    return n


def hparams_from(src):
    v = src.vars
    for name in ("decoder/embeddings/weight", "encoder/position_encodings/encodings",
                 "decoder/position_encodings/encodings", "encoder/conv1/weight"):
        if name not in v:
            raise ConversionError(f"{src.path}: missing tensor '{name}'")
    n_vocab, n_text_state = v["decoder/embeddings/weight"].shape
    n_audio_ctx, n_audio_state = v["encoder/position_encodings/encodings"].shape
    n_text_ctx = v["decoder/position_encodings/encodings"].shape[0]
    n_mels = v["encoder/conv1/weight"].shape[1]
    if n_audio_state != n_text_state:
        raise ConversionError(
            f"{src.path}: encoder width {n_audio_state} != decoder width {n_text_state}; whisper.cpp requires them equal"
        )
    hp = {
        "n_vocab": int(n_vocab),
        "n_audio_ctx": int(n_audio_ctx),
        "n_audio_state": int(n_audio_state),
        "n_audio_head": int(src.scalar("encoder/num_heads")),
        "n_audio_layer": _count_layers(v, "encoder"),
        "n_text_ctx": int(n_text_ctx),
        "n_text_state": int(n_text_state),
        "n_text_head": int(src.scalar("decoder/num_heads")),
        "n_text_layer": _count_layers(v, "decoder"),
        "n_mels": int(n_mels),
    }
    for k in ("n_audio_layer", "n_text_layer", "n_audio_head", "n_text_head"):
        if hp[k] <= 0:
            raise ConversionError(f"{src.path}: no {k} found")
    return hp


HPARAM_ORDER = ("n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
                "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels")


def tensor_type(name, ndim, quantize=None):
    """ggml type written for a tensor: the quantised type, GGML_TYPE_F16 or GGML_TYPE_F32."""
    if quantize and is_quant_candidate(name, ndim):
        return QUANT_TYPES[quantize][1]
    return GGML_TYPE_F16 if is_f16_candidate(name, ndim) else GGML_TYPE_F32


def header_ftype(quantize=None):
    """hparams.ftype: 1 (f16), or GGML_QNT_VERSION * GGML_QNT_VERSION_FACTOR + ggml_ftype."""
    if not quantize:
        return GGML_FTYPE_MOSTLY_F16
    return GGML_QNT_VERSION * GGML_QNT_VERSION_FACTOR + QUANT_TYPES[quantize][0]


def tensor_bytes(name, arr, quantize=None, where=""):
    """(ggml type, little-endian data) for one tensor."""
    ttype = tensor_type(name, arr.ndim, quantize)
    if ttype == GGML_TYPE_F32:
        return ttype, np.ascontiguousarray(arr, dtype="<f4").tobytes()
    f16 = np.ascontiguousarray(arr, dtype="<f2")
    if ttype == GGML_TYPE_F16:
        return ttype, f16.tobytes()
    # like whisper.cpp's quantize tool, which reads the f16 file: quantise the f16 values
    if arr.shape[-1] % QK:
        raise ConversionError(
            f"{where}tensor '{name}' has rows of {arr.shape[-1]} values; {quantize} needs a multiple of {QK}"
        )
    x = f16.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ConversionError(f"{where}tensor '{name}' has non-finite values; cannot quantise to {quantize}")
    return ttype, QUANTIZERS[quantize](x)


def convert(src_dir, out_file, verbose=False, quantize=None):
    """Convert; returns a summary dict (hparams, tensor count, bytes written).

    quantize: None (f16 weights) or a key of QUANT_TYPES ("q8_0", "q5_1").
    """
    src_dir = Path(src_dir)
    out_file = Path(out_file)
    if quantize is not None and quantize not in QUANT_TYPES:
        raise ConversionError(f"unknown quantisation '{quantize}' (supported: {', '.join(QUANT_TYPES)})")
    if not src_dir.is_dir():
        raise ConversionError(f"{src_dir}: not a directory")
    model_bin = src_dir / "model.bin"
    if not model_bin.is_file():
        raise ConversionError(f"{model_bin}: missing (not a CTranslate2 model directory)")
    spec, revision, variables, aliases = read_ct2_model(model_bin)
    if spec != "WhisperSpec":
        raise ConversionError(f"{model_bin}: spec is '{spec}', expected 'WhisperSpec'")
    src = _Source(model_bin, variables, aliases)
    hp = hparams_from(src)

    vocab_path, tokens = load_vocabulary(src_dir)
    if len(tokens) != hp["n_vocab"]:
        raise ConversionError(
            f"{vocab_path}: {len(tokens)} tokens but the embedding has {hp['n_vocab']} rows"
        )
    if (src_dir / "tokenizer.json").is_file():
        check_tokenizer_json(src_dir / "tokenizer.json", tokens)
    vocab = ggml_vocab(vocab_path, tokens)

    tensors = list(map_tensors(src, hp))
    filters = mel_filters(hp["n_mels"])
    if quantize:  # check every row length before writing anything
        for name, arr in tensors:
            if is_quant_candidate(name, arr.ndim) and arr.shape[-1] % QK:
                raise ConversionError(
                    f"{model_bin}: tensor '{name}' has rows of {arr.shape[-1]} values; "
                    f"{quantize} needs a multiple of {QK}"
                )

    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(out_file.name + ".tmp")
    try:
        _write(tmp, hp, filters, vocab, tensors, quantize, verbose, f"{model_bin}: ")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out_file)
    return {"hparams": hp, "tensors": len(tensors), "bytes": out_file.stat().st_size,
            "vocab": len(vocab), "ct2_revision": revision, "ftype": header_ftype(quantize)}


_TYPE_NAMES = {0: "f32", 1: "f16", 7: "q5_1", 8: "q8_0"}


def _write(path, hp, filters, vocab, tensors, quantize, verbose, where):
    with open(path, "wb") as f:
        f.write(struct.pack("<i", GGML_MAGIC))
        f.write(struct.pack("<10i", *(hp[k] for k in HPARAM_ORDER)))
        f.write(struct.pack("<i", header_ftype(quantize)))
        f.write(struct.pack("<ii", *filters.shape))
        f.write(filters.astype("<f4").tobytes())
        f.write(struct.pack("<i", len(vocab)))
        for tok in vocab:
            f.write(struct.pack("<i", len(tok)))
            f.write(tok)
        for name, arr in tensors:
            ttype, data = tensor_bytes(name, arr, quantize, where)
            bname = name.encode("utf-8")
            f.write(struct.pack("<iii", arr.ndim, len(bname), ttype))
            f.write(struct.pack(f"<{arr.ndim}i", *reversed(arr.shape)))
            f.write(bname)
            f.write(data)
            if verbose:
                print(f"  {name:45s} {_TYPE_NAMES[ttype]:4s} {list(arr.shape)}", file=sys.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert a CTranslate2 Whisper model to whisper.cpp ggml format.")
    ap.add_argument("src_dir", help="CTranslate2 model directory (model.bin, vocabulary.txt, ...)")
    ap.add_argument("out_file", help="output ggml .bin file")
    ap.add_argument("-v", "--verbose", action="store_true", help="list tensors as they are written")
    ap.add_argument("--quantize", choices=sorted(QUANT_TYPES), default=None,
                    help="quantise the 2-D weights like whisper.cpp's quantize tool (default: f16)")
    args = ap.parse_args(argv)
    try:
        info = convert(args.src_dir, args.out_file, verbose=args.verbose, quantize=args.quantize)
    except ConversionError as e:
        print(f"ct2_to_ggml: error: {e}", file=sys.stderr)
        return 1
    hp = info["hparams"]
    print(f"ct2_to_ggml: wrote {args.out_file}: {info['tensors']} tensors, {info['bytes']} bytes, "
          f"n_vocab {hp['n_vocab']}, {hp['n_audio_layer']}+{hp['n_text_layer']} layers, width {hp['n_audio_state']}, "
          f"ftype {info['ftype']} ({args.quantize or 'f16'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
