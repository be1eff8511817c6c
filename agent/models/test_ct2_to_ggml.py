"""Tests for ct2_to_ggml.py.

Run:  "${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}/venv/bin/python" -m unittest discover -s agent/models -p 'test_*.py'
  or: .../venv/bin/python -m unittest agent/models/test_ct2_to_ggml.py   (from the repo root)

Two groups:
  * SyntheticModelTest always runs: it writes a tiny random CTranslate2 Whisper model with its own
    writer, converts it, and reads the ggml file back with its own reader.
  * TinyEnModelTest uses the provisioned model in $CACHE/models/whisper/ct2-tiny.en (run
    agent/models/provision.sh asr first); it is skipped, with a message, when that is absent.

Expectations about whisper.cpp (names, shapes, types) are written out here from whisper.cpp 1.8.x
src/whisper.cpp `whisper_model_load` and src/whisper-arch.h, not taken from the converter.
The q8_0/q5_1 expectations (header ftype, which tensors are quantised, block layouts, the
reference quantisers and dequantisers) are written out from whisper.cpp 1.8.3
examples/quantize/quantize.cpp, examples/common-ggml.cpp and ggml/src/ggml-quants.c.

Optional: EDGE_AGENT_WHISPER_QUANTIZE=/path/to/whisper.cpp/quantize (the examples/quantize
binary) also checks that --quantize gives the same bytes as that tool applied to the f16 output.
"""

import hashlib
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import ct2_to_ggml  # noqa: E402

CACHE = Path(os.environ.get("EDGE_AGENT_CACHE", Path.home() / ".cache" / "edge-agent"))
CT2_DIR = CACHE / "models" / "whisper" / "ct2-tiny.en"
GGML_FILE = CACHE / "models" / "whisper" / "ggml-tiny.en.bin"
GGML_Q8_FILE = CACHE / "models" / "whisper" / "ggml-tiny.en-q8_0.bin"
WHISPER_QUANTIZE = os.environ.get("EDGE_AGENT_WHISPER_QUANTIZE", "")

# ggml types and the block layouts (ggml-common.h) of the quantised ones
T_F32, T_F16, T_Q5_1, T_Q8_0 = 0, 1, 7, 8
Q8_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "i1", (32,))])                                  # 34 bytes
Q5_1_BLOCK = np.dtype([("d", "<f2"), ("m", "<f2"), ("qh", "<u4"), ("qs", "u1", (16,))])     # 24 bytes
assert Q8_0_BLOCK.itemsize == 34 and Q5_1_BLOCK.itemsize == 24


# ---------------------------------------------------------------------------------------------
# Independent helpers: CT2 writer/reader, ggml reader, whisper.cpp expectations, mel reference
# ---------------------------------------------------------------------------------------------

def ct2_write(path, variables, aliases=(), version=6, spec="WhisperSpec", revision=3):
    """Write a CTranslate2 model.bin (layout of ModelSpec._serialize). variables: [(name, array)]."""
    type_ids = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4}

    def s(f, text):
        b = text.encode()
        f.write(struct.pack("<H", len(b) + 1) + b + b"\0")

    with open(path, "wb") as f:
        f.write(struct.pack("<I", version))
        s(f, spec)
        f.write(struct.pack("<II", revision, len(variables)))
        for name, arr in variables:
            arr = np.asarray(arr)
            s(f, name)
            f.write(struct.pack("<B", arr.ndim))
            for dim in arr.shape:
                f.write(struct.pack("<I", dim))
            data = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
            f.write(struct.pack("<BI", type_ids[arr.dtype.name], len(data)))
            f.write(data)
        f.write(struct.pack("<I", len(aliases)))
        for a, t in aliases:
            s(f, a)
            s(f, t)


def ct2_read(path):
    """Minimal CT2 reader returning {name: array}."""
    d = Path(path).read_bytes()
    o = 0

    def u(fmt):
        nonlocal o
        v = struct.unpack_from("<" + fmt, d, o)
        o += struct.calcsize("<" + fmt)
        return v[0]

    def s():
        nonlocal o
        n = u("H")
        v = d[o:o + n - 1].decode()
        o += n
        return v

    u("I"), s(), u("I")
    out = {}
    dtypes = {0: "<f4", 1: "i1", 2: "<i2", 3: "<i4", 4: "<f2"}
    for _ in range(u("I")):
        name = s()
        shape = tuple(u("I") for _ in range(u("B")))
        dt = dtypes[u("B")]
        nb = u("I")
        out[name] = np.frombuffer(d, dtype=dt, count=nb // np.dtype(dt).itemsize, offset=o).reshape(shape)
        o += nb
    return out


def dequantize(ttype, raw):
    """ggml dequantize_row_q8_0 / dequantize_row_q5_1, as float32."""
    if ttype == T_Q8_0:
        b = np.frombuffer(raw, Q8_0_BLOCK)
        return (b["qs"].astype(np.float32) * b["d"].astype(np.float32)[:, None]).reshape(-1)
    if ttype == T_Q5_1:
        b = np.frombuffer(raw, Q5_1_BLOCK)
        j = np.arange(16, dtype=np.uint32)
        qh = b["qh"][:, None]
        x0 = (b["qs"] & 0x0F).astype(np.int32) | (((qh >> j) << 4) & 0x10).astype(np.int32)
        x1 = (b["qs"] >> 4).astype(np.int32) | ((qh >> (j + 12)) & 0x10).astype(np.int32)
        q = np.concatenate([x0, x1], axis=1).astype(np.float32)
        return (q * b["d"].astype(np.float32)[:, None] + b["m"].astype(np.float32)[:, None]).reshape(-1)
    raise AssertionError(f"not a quantised type: {ttype}")


def ref_quantize_q8_0(x):
    """quantize_row_q8_0_ref written out value by value (float32 scalars, C roundf)."""
    out = bytearray()
    for blk in np.asarray(x, np.float32).reshape(-1, 32):
        amax = np.float32(0)
        for v in blk:
            amax = max(amax, np.float32(abs(v)))
        d = np.float32(amax / np.float32(127))
        inv = np.float32(np.float32(1) / d) if d != 0 else np.float32(0)
        out += struct.pack("<e", float(d))
        for v in blk:
            x0 = float(np.float32(v * inv))
            out += struct.pack("<b", int(math.copysign(math.floor(abs(x0) + 0.5), x0)))
    return bytes(out)


def ref_quantize_q5_1(x):
    """quantize_row_q5_1_ref written out value by value."""
    out = bytearray()
    for blk in np.asarray(x, np.float32).reshape(-1, 32):
        lo, hi = np.float32(np.inf), np.float32(-np.inf)
        for v in blk:
            lo, hi = min(lo, v), max(hi, v)
        d = np.float32(np.float32(hi - lo) / np.float32(31))
        inv = np.float32(np.float32(1) / d) if d != 0 else np.float32(0)
        q = [int(np.float32(np.float32(np.float32(v - lo) * inv) + np.float32(0.5))) for v in blk]
        qh = 0
        for k in range(32):
            qh |= ((q[k] >> 4) & 1) << k
        out += struct.pack("<eeI", float(d), float(lo), qh)
        out += bytes((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4) for j in range(16))
    return bytes(out)


class GgmlFile:
    """Reads a whisper.cpp ggml model the way whisper_model_load does. Quantised tensors are
    dequantised into `tensors`; their bytes are in `raw`."""

    HP = ("n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
          "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels", "ftype")

    def __init__(self, path):
        d = Path(path).read_bytes()
        self.size = len(d)
        o = 0

        def i32(n=1):
            nonlocal o
            v = struct.unpack_from(f"<{n}i", d, o)
            o += 4 * n
            return v if n > 1 else v[0]

        self.magic = struct.unpack_from("<I", d, 0)[0]
        o = 4
        self.hparams = dict(zip(self.HP, i32(11)))
        n_mel, n_fft = i32(2)
        self.filters = np.frombuffer(d, "<f4", n_mel * n_fft, o).reshape(n_mel, n_fft)
        o += 4 * n_mel * n_fft
        self.tokens = []
        for _ in range(i32()):
            n = struct.unpack_from("<I", d, o)[0]
            o += 4
            self.tokens.append(d[o:o + n])
            o += n
        self.tensors = {}  # name -> (ttype, ne tuple, numpy array in numpy order)
        self.raw = {}      # name -> bytes, quantised tensors only
        self.order = []
        while o < len(d):
            n_dims, name_len, ttype = i32(3)
            ne = i32(n_dims) if n_dims > 1 else (i32(),) if n_dims == 1 else ()
            name = d[o:o + name_len].decode()
            o += name_len
            count = int(np.prod(ne))
            if ttype in (T_Q8_0, T_Q5_1):
                if ne[0] % 32:
                    raise AssertionError(f"{name}: row of {ne[0]} is not whole blocks of 32")
                nbytes = count // 32 * (Q8_0_BLOCK if ttype == T_Q8_0 else Q5_1_BLOCK).itemsize
                self.raw[name] = d[o:o + nbytes]
                arr = dequantize(ttype, self.raw[name]).reshape(tuple(reversed(ne)))
                o += nbytes
            else:
                dt = {T_F32: "<f4", T_F16: "<f2"}[ttype]
                arr = np.frombuffer(d, dt, count, o).reshape(tuple(reversed(ne)))
                o += count * np.dtype(dt).itemsize
            if name in self.tensors:
                raise AssertionError(f"duplicate tensor {name}")
            self.tensors[name] = (ttype, tuple(ne), arr)
            self.order.append(name)
        if o != len(d):
            raise AssertionError("trailing bytes")


def whisper_cpp_expected(hp):
    """{name: (ne, type)} as created by whisper_model_load: type 'f32', 'wtype' (the header ftype's
    type: f16, q8_0, ...), or 'vtype' (conv weights: f16 unless wtype is f32)."""
    S, A, T, M = hp["n_audio_state"], hp["n_audio_ctx"], hp["n_text_ctx"], hp["n_mels"]
    V = hp["n_vocab"]
    e = {
        "encoder.positional_embedding": ((S, A), "f32"),
        "encoder.conv1.weight": ((3, M, S), "vtype"),
        "encoder.conv1.bias": ((1, S), "f32"),
        "encoder.conv2.weight": ((3, S, S), "vtype"),
        "encoder.conv2.bias": ((1, S), "f32"),
        "encoder.ln_post.weight": ((S,), "f32"),
        "encoder.ln_post.bias": ((S,), "f32"),
        "decoder.positional_embedding": ((S, T), "f32"),
        "decoder.token_embedding.weight": ((S, V), "wtype"),
        "decoder.ln.weight": ((S,), "f32"),
        "decoder.ln.bias": ((S,), "f32"),
    }
    block = {
        "mlp_ln.weight": ((S,), "f32"), "mlp_ln.bias": ((S,), "f32"),
        "mlp.0.weight": ((S, 4 * S), "wtype"), "mlp.0.bias": ((4 * S,), "f32"),
        "mlp.2.weight": ((4 * S, S), "wtype"), "mlp.2.bias": ((S,), "f32"),
        "attn_ln.weight": ((S,), "f32"), "attn_ln.bias": ((S,), "f32"),
        "attn.query.weight": ((S, S), "wtype"), "attn.query.bias": ((S,), "f32"),
        "attn.key.weight": ((S, S), "wtype"),
        "attn.value.weight": ((S, S), "wtype"), "attn.value.bias": ((S,), "f32"),
        "attn.out.weight": ((S, S), "wtype"), "attn.out.bias": ((S,), "f32"),
    }
    for i in range(hp["n_audio_layer"]):
        for k, v in block.items():
            e[f"encoder.blocks.{i}.{k}"] = v
    for i in range(hp["n_text_layer"]):
        for k, v in block.items():
            e[f"decoder.blocks.{i}.{k}"] = v
            if k.startswith("attn"):
                e[f"decoder.blocks.{i}.cross_{k}"] = v
    # whisper.cpp sizes its context for 10 + 15 + 15*n_audio_layer + 24*n_text_layer; it creates
    # 11 global tensors + 15 per encoder block + 24 per decoder block.
    assert len(e) == 11 + 15 * hp["n_audio_layer"] + 24 * hp["n_text_layer"]
    return e


def expected_ttype(kind, ftype):
    """ggml type of a tensor kind for a header ftype (loader: ftype % GGML_QNT_VERSION_FACTOR)."""
    wtype = {1: T_F16, 7: T_Q8_0, 9: T_Q5_1}[ftype % 1000]
    return {"f32": T_F32, "vtype": T_F16, "wtype": wtype}[kind]


def mel_reference_librosa(sr, n_fft, n_mels):
    """librosa.filters.mel(htk=False, norm='slaney') written out filter by filter, in float64."""
    def hz_to_mel(f):
        f_sp, min_log_hz = 200.0 / 3, 1000.0
        if f < min_log_hz:
            return f / f_sp
        return min_log_hz / f_sp + math.log(f / min_log_hz) / (math.log(6.4) / 27.0)

    def mel_to_hz(m):
        f_sp, min_log_hz = 200.0 / 3, 1000.0
        min_log_mel = min_log_hz / f_sp
        if m < min_log_mel:
            return f_sp * m
        return min_log_hz * math.exp(math.log(6.4) / 27.0 * (m - min_log_mel))

    n_bins = n_fft // 2 + 1
    fft_freqs = [k * sr / n_fft for k in range(n_bins)]
    top = hz_to_mel(sr / 2)
    mel_f = [mel_to_hz(top * j / (n_mels + 1)) for j in range(n_mels + 2)]
    w = np.zeros((n_mels, n_bins))
    for i in range(n_mels):
        lo, c, hi = mel_f[i], mel_f[i + 1], mel_f[i + 2]
        for k, f in enumerate(fft_freqs):
            up = (f - lo) / (c - lo)
            down = (hi - f) / (hi - c)
            w[i, k] = max(0.0, min(up, down)) * 2.0 / (hi - lo)
    return w


def mel_reference_faster_whisper(sr=16000, n_fft=400, n_mels=80):
    """faster_whisper.feature_extractor.FeatureExtractor.get_mel_filters (hard-coded max mel)."""
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mels = np.linspace(0.0, 45.245640471924965, n_mels + 2)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_mel = 1000.0 / f_sp
    log_t = mels >= min_log_mel
    freqs[log_t] = 1000.0 * np.exp(np.log(6.4) / 27.0 * (mels[log_t] - min_log_mel))
    fdiff = np.diff(freqs)
    ramps = freqs.reshape(-1, 1) - fftfreqs.reshape(1, -1)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    w = np.maximum(0, np.minimum(lower, upper))
    w *= (2.0 / (freqs[2:n_mels + 2] - freqs[:n_mels]))[:, None]
    return w


def gpt2_byte_decoder():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


# ---------------------------------------------------------------------------------------------
# Synthetic model
# ---------------------------------------------------------------------------------------------

def make_synthetic(dirpath, S=8, heads=2, n_enc=1, n_dec=2, n_mels=80, n_audio_ctx=6, n_text_ctx=5,
                   drop=None, extra=None, int8=False, truncate=None):
    """Write a random CT2 Whisper model dir. Returns (variables dict, vocabulary list)."""
    rng = np.random.default_rng(1234)
    # vocabulary: some byte-level BPE tokens, <|endoftext|>, specials, timestamps
    bpe = ["!", "a", "Ġthe", "Ġ22", "Ċ", "Ã©", "hello"]
    vocab = bpe + ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>",
                   "<|0.00|>", "<|0.02|>"]
    V = len(vocab)
    f16 = lambda *shape: rng.standard_normal(shape).astype(np.float16)  # noqa: E731
    v = {}
    v["encoder/conv1/weight"] = f16(S, n_mels, 3)
    v["encoder/conv1/bias"] = f16(S)
    v["encoder/conv2/weight"] = f16(S, S, 3)
    v["encoder/conv2/bias"] = f16(S)
    v["encoder/position_encodings/encodings"] = f16(n_audio_ctx, S)
    v["encoder/layer_norm/gamma"] = f16(S)
    v["encoder/layer_norm/beta"] = f16(S)
    v["encoder/num_heads"] = np.array(heads, dtype=np.int16)

    def qkv_bias(n_parts, key_index):
        b = f16(n_parts * S)
        b[key_index * S:(key_index + 1) * S] = 0
        return b

    for i in range(n_enc):
        p = f"encoder/layer_{i}"
        v[f"{p}/self_attention/linear_0/weight"] = f16(3 * S, S)
        v[f"{p}/self_attention/linear_0/bias"] = qkv_bias(3, 1)
        v[f"{p}/self_attention/linear_1/weight"] = f16(S, S)
        v[f"{p}/self_attention/linear_1/bias"] = f16(S)
        v[f"{p}/self_attention/layer_norm/gamma"] = f16(S)
        v[f"{p}/self_attention/layer_norm/beta"] = f16(S)
        v[f"{p}/ffn/linear_0/weight"] = f16(4 * S, S)
        v[f"{p}/ffn/linear_0/bias"] = f16(4 * S)
        v[f"{p}/ffn/linear_1/weight"] = f16(S, 4 * S)
        v[f"{p}/ffn/linear_1/bias"] = f16(S)
        v[f"{p}/ffn/layer_norm/gamma"] = f16(S)
        v[f"{p}/ffn/layer_norm/beta"] = f16(S)
    v["decoder/embeddings/weight"] = f16(V, S)
    v["decoder/position_encodings/encodings"] = f16(n_text_ctx, S)
    v["decoder/layer_norm/gamma"] = f16(S)
    v["decoder/layer_norm/beta"] = f16(S)
    v["decoder/num_heads"] = np.array(heads, dtype=np.int16)
    v["decoder/scale_embeddings"] = np.array(0, dtype=np.int8)
    v["decoder/pre_norm"] = np.array(1, dtype=np.int8)
    for i in range(n_dec):
        p = f"decoder/layer_{i}"
        v[f"{p}/self_attention/linear_0/weight"] = f16(3 * S, S)
        v[f"{p}/self_attention/linear_0/bias"] = qkv_bias(3, 1)
        v[f"{p}/self_attention/linear_1/weight"] = f16(S, S)
        v[f"{p}/self_attention/linear_1/bias"] = f16(S)
        v[f"{p}/self_attention/layer_norm/gamma"] = f16(S)
        v[f"{p}/self_attention/layer_norm/beta"] = f16(S)
        v[f"{p}/attention/linear_0/weight"] = f16(S, S)
        v[f"{p}/attention/linear_0/bias"] = f16(S)
        v[f"{p}/attention/linear_1/weight"] = f16(2 * S, S)
        v[f"{p}/attention/linear_1/bias"] = qkv_bias(2, 0)
        v[f"{p}/attention/linear_2/weight"] = f16(S, S)
        v[f"{p}/attention/linear_2/bias"] = f16(S)
        v[f"{p}/attention/layer_norm/gamma"] = f16(S)
        v[f"{p}/attention/layer_norm/beta"] = f16(S)
        v[f"{p}/ffn/linear_0/weight"] = f16(4 * S, S)
        v[f"{p}/ffn/linear_0/bias"] = f16(4 * S)
        v[f"{p}/ffn/linear_1/weight"] = f16(S, 4 * S)
        v[f"{p}/ffn/linear_1/bias"] = f16(S)
        v[f"{p}/ffn/layer_norm/gamma"] = f16(S)
        v[f"{p}/ffn/layer_norm/beta"] = f16(S)
    if int8:
        v["encoder/layer_0/ffn/linear_0/weight"] = rng.integers(-127, 127, (4 * S, S), dtype=np.int8)
        v["encoder/layer_0/ffn/linear_0/weight_scale"] = np.ones(4 * S, dtype=np.float32)
    if drop:
        del v[drop]
    if extra:
        v[extra] = f16(S)
    d = Path(dirpath)
    d.mkdir(parents=True, exist_ok=True)
    ct2_write(d / "model.bin", sorted(v.items()), aliases=[("decoder/projection/weight", "decoder/embeddings/weight")])
    if truncate is not None:
        with open(d / "model.bin", "r+b") as f:
            f.truncate(truncate)
    (d / "vocabulary.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (d / "config.json").write_text("{}")
    return v, vocab


class SyntheticModelTest(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="ct2ggml-test-"))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def convert(self, **kw):
        src = self.tmp / "src"
        v, vocab = make_synthetic(src, **kw)
        out = self.tmp / "out.bin"
        ct2_to_ggml.convert(src, out)
        return v, vocab, GgmlFile(out), out

    def test_header_vocab_and_tensors(self):
        v, vocab, g, out = self.convert()
        self.assertEqual(g.magic, 0x67676D6C)
        hp = g.hparams
        self.assertEqual((hp["n_vocab"], hp["n_audio_ctx"], hp["n_audio_state"], hp["n_audio_head"],
                          hp["n_audio_layer"], hp["n_text_ctx"], hp["n_text_state"], hp["n_text_head"],
                          hp["n_text_layer"], hp["n_mels"], hp["ftype"]),
                         (len(vocab), 6, 8, 2, 1, 5, 8, 2, 2, 80, 1))
        # only the tokens before <|endoftext|>, as bytes
        self.assertEqual(g.tokens, [b"!", b"a", b" the", b" 22", b"\n", "é".encode(), b"hello"])
        exp = whisper_cpp_expected(hp)
        self.assertEqual(sorted(g.tensors), sorted(exp))
        self.assertEqual(len(g.tensors), 11 + 15 * 1 + 24 * 2)
        for name, (ne, kind) in exp.items():
            ttype, got_ne, _ = g.tensors[name]
            self.assertEqual(got_ne, ne, name)
            self.assertEqual(ttype, 0 if kind == "f32" else 1, name)

    def test_values_and_splits(self):
        v, _, g, _ = self.convert()
        S = 8
        t = {k: a for k, (_, _, a) in g.tensors.items()}
        np.testing.assert_array_equal(t["encoder.conv1.weight"], v["encoder/conv1/weight"])
        np.testing.assert_array_equal(t["encoder.conv1.bias"][:, 0], v["encoder/conv1/bias"].astype(np.float32))
        np.testing.assert_array_equal(t["decoder.token_embedding.weight"], v["decoder/embeddings/weight"])
        np.testing.assert_array_equal(t["encoder.ln_post.weight"], v["encoder/layer_norm/gamma"].astype(np.float32))
        for blk, ct2 in (("encoder.blocks.0", "encoder/layer_0"), ("decoder.blocks.1", "decoder/layer_1")):
            fused = v[f"{ct2}/self_attention/linear_0/weight"]
            np.testing.assert_array_equal(
                np.concatenate([t[f"{blk}.attn.query.weight"], t[f"{blk}.attn.key.weight"],
                                t[f"{blk}.attn.value.weight"]]), fused)
            fb = v[f"{ct2}/self_attention/linear_0/bias"].astype(np.float32)
            np.testing.assert_array_equal(t[f"{blk}.attn.query.bias"], fb[:S])
            np.testing.assert_array_equal(t[f"{blk}.attn.value.bias"], fb[2 * S:])
            self.assertNotIn(f"{blk}.attn.key.bias", t)
        kv = v["decoder/layer_0/attention/linear_1/weight"]
        np.testing.assert_array_equal(
            np.concatenate([t["decoder.blocks.0.cross_attn.key.weight"], t["decoder.blocks.0.cross_attn.value.weight"]]), kv)
        np.testing.assert_array_equal(t["decoder.blocks.0.cross_attn.value.bias"],
                                      v["decoder/layer_0/attention/linear_1/bias"][S:].astype(np.float32))
        np.testing.assert_array_equal(t["decoder.blocks.0.cross_attn.query.weight"], v["decoder/layer_0/attention/linear_0/weight"])
        np.testing.assert_array_equal(t["decoder.blocks.0.cross_attn.out.weight"], v["decoder/layer_0/attention/linear_2/weight"])
        np.testing.assert_array_equal(t["decoder.blocks.1.mlp.2.weight"], v["decoder/layer_1/ffn/linear_1/weight"])
        np.testing.assert_array_equal(t["decoder.blocks.1.cross_attn_ln.bias"],
                                      v["decoder/layer_1/attention/layer_norm/beta"].astype(np.float32))

    def test_deterministic(self):
        _, _, _, out = self.convert()
        first = out.read_bytes()
        ct2_to_ggml.convert(self.tmp / "src", out)
        self.assertEqual(first, out.read_bytes())

    def assertConversionError(self, fragments, **kw):
        src = self.tmp / "bad"
        make_synthetic(src, **kw)
        with self.assertRaises(ct2_to_ggml.ConversionError) as cm:
            ct2_to_ggml.convert(src, self.tmp / "bad.bin")
        msg = str(cm.exception)
        for frag in fragments:
            self.assertIn(frag, msg)
        self.assertFalse((self.tmp / "bad.bin").exists(), "no output on error")
        return msg

    def test_missing_tensor(self):
        self.assertConversionError(["model.bin", "missing tensor", "decoder/layer_1/attention/linear_1/weight"],
                                   drop="decoder/layer_1/attention/linear_1/weight")

    def test_unexpected_tensor(self):
        self.assertConversionError(["model.bin", "unexpected", "encoder/layer_0/something/else"],
                                   extra="encoder/layer_0/something/else")

    def test_truncated(self):
        src = self.tmp / "full"
        make_synthetic(src)
        size = (src / "model.bin").stat().st_size
        for cut in (2, 30, size // 2, size - 3):
            with self.subTest(cut=cut):
                self.assertConversionError(["model.bin", "truncated"], truncate=cut)

    def test_quantized_rejected(self):
        self.assertConversionError(["model.bin", "int8", "quantized"], int8=True)

    def test_missing_vocabulary(self):
        src = self.tmp / "novocab"
        make_synthetic(src)
        (src / "vocabulary.txt").unlink()
        with self.assertRaisesRegex(ct2_to_ggml.ConversionError, "vocabulary"):
            ct2_to_ggml.convert(src, self.tmp / "x.bin")

    def test_cli_error_exit(self):
        src = self.tmp / "cli"
        make_synthetic(src, drop="encoder/conv2/bias")
        from io import StringIO
        from contextlib import redirect_stderr
        err = StringIO()
        with redirect_stderr(err):
            rc = ct2_to_ggml.main([str(src), str(self.tmp / "cli.bin")])
        self.assertEqual(rc, 1)
        self.assertIn("encoder/conv2/bias", err.getvalue())

    def test_mel_filters_match_references(self):
        ours = ct2_to_ggml.mel_filters(80)
        self.assertEqual(ours.shape, (80, 201))
        self.assertEqual(ours.dtype, np.float32)
        np.testing.assert_allclose(ours, mel_reference_librosa(16000, 400, 80), rtol=0, atol=1e-8)
        np.testing.assert_allclose(ours, mel_reference_faster_whisper(), rtol=0, atol=1e-8)
        np.testing.assert_allclose(ct2_to_ggml.mel_filters(128), mel_reference_librosa(16000, 400, 128),
                                   rtol=0, atol=1e-8)
        # every filter is a non-empty triangle; slaney normalisation: area ~ constant in Hz
        self.assertTrue(np.all(ours.max(axis=1) > 0))


class QuantizeTest(unittest.TestCase):
    """--quantize q8_0 / q5_1 on a synthetic model whose rows are whole blocks of 32 (S = 32)."""

    S = 32

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="ct2ggml-quant-"))
        cls.src = cls.tmp / "src"
        cls.v, cls.vocab = make_synthetic(cls.src, S=cls.S, heads=2)
        cls.f16_path = cls.tmp / "f16.bin"
        ct2_to_ggml.convert(cls.src, cls.f16_path)
        cls.f16 = GgmlFile(cls.f16_path)
        cls.q = {}
        for qt in ("q8_0", "q5_1"):
            path = cls.tmp / f"{qt}.bin"
            ct2_to_ggml.convert(cls.src, path, quantize=qt)
            cls.q[qt] = (path, GgmlFile(path))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_header_ftype(self):
        # GGML_QNT_VERSION (2) * GGML_QNT_VERSION_FACTOR (1000) + GGML_FTYPE_MOSTLY_Q8_0 (7) / _Q5_1 (9)
        self.assertEqual(self.f16.hparams["ftype"], 1)
        self.assertEqual(self.q["q8_0"][1].hparams["ftype"], 2007)
        self.assertEqual(self.q["q5_1"][1].hparams["ftype"], 2009)
        for qt in self.q:
            g = self.q[qt][1]
            self.assertEqual({k: v for k, v in g.hparams.items() if k != "ftype"},
                             {k: v for k, v in self.f16.hparams.items() if k != "ftype"})
            self.assertEqual(g.magic, self.f16.magic)
            np.testing.assert_array_equal(g.filters, self.f16.filters)
            self.assertEqual(g.tokens, self.f16.tokens)

    def test_which_tensors_are_quantized(self):
        for qt, qtype in (("q8_0", T_Q8_0), ("q5_1", T_Q5_1)):
            g = self.q[qt][1]
            exp = whisper_cpp_expected(g.hparams)
            self.assertEqual(g.order, self.f16.order)
            for name, (ne, kind) in exp.items():
                ttype, got_ne, _ = g.tensors[name]
                self.assertEqual(got_ne, ne, name)
                self.assertEqual(ttype, expected_ttype(kind, g.hparams["ftype"]), f"{qt} {name}")
            quantized = sorted(n for n, (t, _, _) in g.tensors.items() if t == qtype)
            # what whisper.cpp's quantize tool picks: 2-D, minus conv biases and positional embeddings
            tool = sorted(n for n, (_, ne, _) in self.f16.tensors.items() if len(ne) == 2 and n not in (
                "encoder.conv1.bias", "encoder.conv2.bias",
                "encoder.positional_embedding", "decoder.positional_embedding"))
            self.assertEqual(quantized, tool)
            # 6 weights per encoder block, 10 per decoder block, the token embedding
            self.assertEqual(len(quantized), 6 * 1 + 10 * 2 + 1)
            self.assertEqual(g.tensors["encoder.conv1.weight"][0], T_F16)
            self.assertEqual(g.tensors["encoder.conv2.weight"][0], T_F16)
            for name in ("encoder.positional_embedding", "decoder.positional_embedding",
                         "encoder.conv1.bias", "decoder.blocks.1.mlp_ln.weight", "encoder.blocks.0.attn.query.bias"):
                self.assertEqual(g.tensors[name][0], T_F32, name)

    def test_unquantized_tensors_unchanged(self):
        for qt in self.q:
            g = self.q[qt][1]
            for name, (ttype, _, arr) in g.tensors.items():
                if ttype in (T_F32, T_F16):
                    f_ttype, _, f_arr = self.f16.tensors[name]
                    self.assertEqual(ttype, f_ttype, name)
                    np.testing.assert_array_equal(arr, f_arr, name)

    def test_q8_0_round_trip_error(self):
        g = self.q["q8_0"][1]
        n = 0
        for name, raw in g.raw.items():
            x = self.f16.tensors[name][2].astype(np.float32).reshape(-1, 32)
            y = g.tensors[name][2].reshape(-1, 32)
            blocks = np.frombuffer(raw, Q8_0_BLOCK)
            amax = np.abs(x).max(axis=1)
            d = amax / np.float32(127)
            d16 = blocks["d"].astype(np.float32)
            np.testing.assert_allclose(d16, d, rtol=2 ** -11, atol=0)   # scale = max|x| / 127 in f16
            self.assertTrue(np.all(np.abs(blocks["qs"]).max(axis=1) == 127), name)  # the max maps to +-127
            # |x - q * d16| <= d/2 (rounding) + 127 * |d - d16| (f16 scale), plus float slack
            bound = 0.5 * d + 127 * np.abs(d - d16) + 1e-6 * amax
            err = np.abs(x - y).max(axis=1)
            self.assertTrue(np.all(err <= bound), f"{name}: worst {np.max(err - bound)} over the bound")
            rel = np.sqrt(np.mean((x - y) ** 2) / np.mean(x ** 2))
            self.assertLess(rel, 0.01, name)
            n += 1
        self.assertEqual(n, 27)

    def test_q5_1_round_trip_error(self):
        g = self.q["q5_1"][1]
        for name, raw in g.raw.items():
            x = self.f16.tensors[name][2].astype(np.float32).reshape(-1, 32)
            y = g.tensors[name][2].reshape(-1, 32)
            blocks = np.frombuffer(raw, Q5_1_BLOCK)
            lo, hi = x.min(axis=1), x.max(axis=1)
            d = (hi - lo) / np.float32(31)
            d16, m16 = blocks["d"].astype(np.float32), blocks["m"].astype(np.float32)
            np.testing.assert_array_equal(m16, lo.astype(np.float16).astype(np.float32))
            bound = 0.5 * d + 31 * np.abs(d - d16) + np.abs(lo - m16) + 1e-6 * (hi - lo)
            err = np.abs(x - y).max(axis=1)
            self.assertTrue(np.all(err <= bound), f"{name}: worst {np.max(err - bound)} over the bound")

    def test_matches_value_by_value_reference(self):
        for qt, ref in (("q8_0", ref_quantize_q8_0), ("q5_1", ref_quantize_q5_1)):
            g = self.q[qt][1]
            for name in ("decoder.token_embedding.weight", "encoder.blocks.0.attn.key.weight"):
                x = self.f16.tensors[name][2].astype(np.float32)
                self.assertEqual(g.raw[name], ref(x), f"{qt} {name}")

    def test_quantizers_edge_cases(self):
        # halves round away from zero (C roundf, not numpy's round-half-even); an all-zero block
        # gets d = 0 and qs = 0; a negative extreme maps to -127
        x = np.zeros(96, np.float32)
        x[:8] = [127, 2.5, -2.5, 0.5, -0.5, 1.5, -126.5, 3]
        x[64:70] = [-1e-3, 2e-4, 7e-4, -5e-4, 1e-4, 0]
        q = ct2_to_ggml.quantize_q8_0(x)
        self.assertEqual(q, ref_quantize_q8_0(x))
        b = np.frombuffer(q, Q8_0_BLOCK)
        self.assertEqual(b["d"][0], 1.0)
        self.assertEqual(list(b["qs"][0][:8]), [127, 3, -3, 1, -1, 2, -127, 3])
        self.assertEqual(b["d"][1], 0)
        self.assertFalse(np.any(b["qs"][1]))
        self.assertEqual(b["qs"][2][0], -127)
        q5 = ct2_to_ggml.quantize_q5_1(x)
        self.assertEqual(q5, ref_quantize_q5_1(x))
        rng = np.random.default_rng(7)
        for scale in (1e-3, 1.0, 300.0):
            r = (rng.standard_normal(32 * 40) * scale).astype(np.float16).astype(np.float32)
            self.assertEqual(ct2_to_ggml.quantize_q8_0(r), ref_quantize_q8_0(r))
            self.assertEqual(ct2_to_ggml.quantize_q5_1(r), ref_quantize_q5_1(r))
            np.testing.assert_allclose(dequantize(T_Q8_0, ct2_to_ggml.quantize_q8_0(r)), r,
                                       rtol=0, atol=np.abs(r).max() / 127 * 0.6)

    def test_size(self):
        quantized = sum(a.size for n, (_, _, a) in self.f16.tensors.items() if n in self.q["q8_0"][1].raw)
        f16_size = self.f16_path.stat().st_size
        self.assertEqual(self.q["q8_0"][0].stat().st_size, f16_size - 2 * quantized + quantized // 32 * 34)
        self.assertEqual(self.q["q5_1"][0].stat().st_size, f16_size - 2 * quantized + quantized // 32 * 24)

    def test_deterministic_bytes(self):
        for qt in self.q:
            path = self.q[qt][0]
            again = self.tmp / f"again-{qt}.bin"
            ct2_to_ggml.convert(self.src, again, quantize=qt)
            self.assertEqual(path.read_bytes(), again.read_bytes(), qt)
        # the CLI writes the same file
        cli = self.tmp / "cli-q8_0.bin"
        from io import StringIO
        from contextlib import redirect_stdout
        with redirect_stdout(StringIO()) as out:
            self.assertEqual(ct2_to_ggml.main(["--quantize", "q8_0", str(self.src), str(cli)]), 0)
        self.assertIn("ftype 2007", out.getvalue())
        self.assertEqual(cli.read_bytes(), self.q["q8_0"][0].read_bytes())
        h = hashlib.sha256(self.q["q8_0"][0].read_bytes()).hexdigest()
        self.assertEqual(h, hashlib.sha256(cli.read_bytes()).hexdigest())

    def test_rows_not_whole_blocks_rejected(self):
        src = self.tmp / "s8"
        make_synthetic(src, S=8)   # rows of 8 values
        out = self.tmp / "s8.bin"
        with self.assertRaises(ct2_to_ggml.ConversionError) as cm:
            ct2_to_ggml.convert(src, out, quantize="q8_0")
        self.assertIn("multiple of 32", str(cm.exception))
        self.assertIn(str(src / "model.bin"), str(cm.exception))
        self.assertFalse(out.exists())
        self.assertFalse(out.with_name(out.name + ".tmp").exists())

    def test_unknown_quantization(self):
        with self.assertRaisesRegex(ct2_to_ggml.ConversionError, "q4_0"):
            ct2_to_ggml.convert(self.src, self.tmp / "x.bin", quantize="q4_0")


# ---------------------------------------------------------------------------------------------
# Real tiny.en model (provisioned)
# ---------------------------------------------------------------------------------------------

@unittest.skipUnless((CT2_DIR / "model.bin").is_file(),
                     f"model cache absent ({CT2_DIR}); run agent/models/provision.sh asr")
class TinyEnModelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="ct2ggml-tinyen-"))
        cls.out = cls.tmp / "ggml-tiny.en.bin"
        ct2_to_ggml.convert(CT2_DIR, cls.out)
        cls.g = GgmlFile(cls.out)
        cls.src = ct2_read(CT2_DIR / "model.bin")
        cls.out_q8 = cls.tmp / "ggml-tiny.en-q8_0.bin"
        ct2_to_ggml.convert(CT2_DIR, cls.out_q8, quantize="q8_0")
        cls.g_q8 = GgmlFile(cls.out_q8)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_header(self):
        self.assertEqual(self.g.magic, 0x67676D6C)
        self.assertEqual(self.g.hparams, {
            "n_vocab": 51864, "n_audio_ctx": 1500, "n_audio_state": 384, "n_audio_head": 6,
            "n_audio_layer": 4, "n_text_ctx": 448, "n_text_state": 384, "n_text_head": 6,
            "n_text_layer": 4, "n_mels": 80, "ftype": 1})

    def test_tensor_names_shapes_types(self):
        hp = self.g.hparams
        exp = whisper_cpp_expected(hp)
        self.assertEqual(len(self.g.tensors), 167)
        self.assertEqual(sorted(self.g.tensors), sorted(exp))
        for name, (ne, kind) in exp.items():
            ttype, got_ne, _ = self.g.tensors[name]
            self.assertEqual(got_ne, ne, name)
            self.assertEqual(ttype, 0 if kind == "f32" else 1, name)

    def test_size(self):
        self.assertEqual(self.g.size, self.out.stat().st_size)
        self.assertTrue(77_000_000 < self.g.size < 78_500_000, self.g.size)

    def test_qkv_split_reproduces_fused(self):
        t = {k: a for k, (_, _, a) in self.g.tensors.items()}
        S = 384
        for side, n in (("encoder", 4), ("decoder", 4)):
            for i in range(n):
                blk, ct2 = f"{side}.blocks.{i}", f"{side}/layer_{i}"
                fw = self.src[f"{ct2}/self_attention/linear_0/weight"]
                fb = self.src[f"{ct2}/self_attention/linear_0/bias"]
                np.testing.assert_array_equal(
                    np.concatenate([t[f"{blk}.attn.query.weight"], t[f"{blk}.attn.key.weight"],
                                    t[f"{blk}.attn.value.weight"]]), fw)
                np.testing.assert_array_equal(
                    np.concatenate([t[f"{blk}.attn.query.bias"], np.zeros(S, np.float32),
                                    t[f"{blk}.attn.value.bias"]]), fb.astype(np.float32))
                self.assertFalse(np.any(fb[S:2 * S]), "CT2 key bias should be zeros")
                if side == "decoder":
                    kw = self.src[f"{ct2}/attention/linear_1/weight"]
                    kb = self.src[f"{ct2}/attention/linear_1/bias"]
                    np.testing.assert_array_equal(
                        np.concatenate([t[f"{blk}.cross_attn.key.weight"], t[f"{blk}.cross_attn.value.weight"]]), kw)
                    np.testing.assert_array_equal(t[f"{blk}.cross_attn.value.bias"], kb[S:].astype(np.float32))
                    self.assertFalse(np.any(kb[:S]))
        np.testing.assert_array_equal(t["decoder.token_embedding.weight"], self.src["decoder/embeddings/weight"])
        np.testing.assert_array_equal(t["encoder.positional_embedding"],
                                      self.src["encoder/position_encodings/encodings"].astype(np.float32))

    def test_mel_filters(self):
        np.testing.assert_allclose(self.g.filters, mel_reference_faster_whisper(), rtol=0, atol=1e-8)
        np.testing.assert_allclose(self.g.filters, mel_reference_librosa(16000, 400, 80), rtol=0, atol=1e-8)

    def test_vocab(self):
        vocab = (CT2_DIR / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[:-1]
        self.assertEqual(len(vocab), 51864)
        self.assertEqual(len(self.g.tokens), 50256)  # tokens before <|endoftext|>, like the tiktoken converter
        dec = gpt2_byte_decoder()
        for i in (0, 220, 262, 1000, 50255):
            self.assertEqual(self.g.tokens[i], bytes(dec[c] for c in vocab[i]))
        self.assertEqual(self.g.tokens[220], b" ")
        tok = json.loads((CT2_DIR / "tokenizer.json").read_text(encoding="utf-8"))
        self.assertEqual(tok["model"]["vocab"]["<|endoftext|>"], 50256)

    def test_matches_provisioned_file(self):
        if not GGML_FILE.is_file():
            self.skipTest(f"{GGML_FILE} absent")
        h = lambda p: hashlib.sha256(Path(p).read_bytes()).hexdigest()  # noqa: E731
        self.assertEqual(h(self.out), h(GGML_FILE), "conversion is deterministic and matches the provisioned file")

    def test_q8_0(self):
        g = self.g_q8
        self.assertEqual(g.hparams, dict(self.g.hparams, ftype=2007))
        exp = whisper_cpp_expected(g.hparams)
        self.assertEqual(g.order, self.g.order)
        for name, (ne, kind) in exp.items():
            ttype, got_ne, _ = g.tensors[name]
            self.assertEqual(got_ne, ne, name)
            self.assertEqual(ttype, expected_ttype(kind, 2007), name)
        self.assertEqual(len(g.raw), 6 * 4 + 10 * 4 + 1)
        self.assertEqual(g.size, 43_550_778)  # whisper.cpp's ggml-tiny.en-q8_0.bin is 17 bytes more (<|endoftext|>)
        for name in ("decoder.token_embedding.weight", "encoder.blocks.0.mlp.0.weight",
                     "decoder.blocks.3.cross_attn.value.weight"):
            x = self.g.tensors[name][2].astype(np.float32)
            y = g.tensors[name][2]
            # relative RMS error (measured: 1.05% for the token embedding, whose rows have outliers)
            self.assertLess(np.sqrt(np.mean((x - y) ** 2) / np.mean(x ** 2)), 0.02, name)
        for name, (ttype, _, arr) in g.tensors.items():
            if name not in g.raw:
                np.testing.assert_array_equal(arr, self.g.tensors[name][2], name)

    def test_q8_0_matches_provisioned_file(self):
        if not GGML_Q8_FILE.is_file():
            self.skipTest(f"{GGML_Q8_FILE} absent")
        h = lambda p: hashlib.sha256(Path(p).read_bytes()).hexdigest()  # noqa: E731
        self.assertEqual(h(self.out_q8), h(GGML_Q8_FILE))

    @unittest.skipUnless(WHISPER_QUANTIZE, "EDGE_AGENT_WHISPER_QUANTIZE (whisper.cpp's quantize binary) not set")
    def test_same_bytes_as_whisper_cpp_quantize(self):
        import subprocess
        for qt, ours in (("q8_0", self.out_q8), ("q5_1", None)):
            if ours is None:
                ours = self.tmp / f"ours-{qt}.bin"
                ct2_to_ggml.convert(CT2_DIR, ours, quantize=qt)
            theirs = self.tmp / f"tool-{qt}.bin"
            subprocess.run([WHISPER_QUANTIZE, str(self.out), str(theirs), qt], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.assertTrue(theirs.read_bytes() == ours.read_bytes(), f"{qt}: differs from whisper.cpp quantize")

    def test_truncated_real_model(self):
        bad = self.tmp / "trunc"
        bad.mkdir()
        for f in ("config.json", "vocabulary.txt", "tokenizer.json"):
            os.symlink(CT2_DIR / f, bad / f)
        data = (CT2_DIR / "model.bin").read_bytes()
        (bad / "model.bin").write_bytes(data[:len(data) - 1000])
        with self.assertRaises(ct2_to_ggml.ConversionError) as cm:
            ct2_to_ggml.convert(bad, self.tmp / "trunc.bin")
        self.assertIn(str(bad / "model.bin"), str(cm.exception))
        self.assertIn("truncated", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
