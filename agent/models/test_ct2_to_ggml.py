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


class GgmlFile:
    """Reads a whisper.cpp ggml model the way whisper_model_load does."""

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
        self.order = []
        while o < len(d):
            n_dims, name_len, ttype = i32(3)
            ne = i32(n_dims) if n_dims > 1 else (i32(),) if n_dims == 1 else ()
            name = d[o:o + name_len].decode()
            o += name_len
            dt = {0: "<f4", 1: "<f2"}[ttype]
            count = int(np.prod(ne))
            arr = np.frombuffer(d, dt, count, o).reshape(tuple(reversed(ne)))
            o += count * np.dtype(dt).itemsize
            if name in self.tensors:
                raise AssertionError(f"duplicate tensor {name}")
            self.tensors[name] = (ttype, tuple(ne), arr)
            self.order.append(name)
        if o != len(d):
            raise AssertionError("trailing bytes")


def whisper_cpp_expected(hp):
    """{name: (ne, type)} as created by whisper_model_load (type 'f32' or 'wtype'; conv weights use
    vtype, which is f16 when wtype is f16)."""
    S, A, T, M = hp["n_audio_state"], hp["n_audio_ctx"], hp["n_text_ctx"], hp["n_mels"]
    V = hp["n_vocab"]
    e = {
        "encoder.positional_embedding": ((S, A), "f32"),
        "encoder.conv1.weight": ((3, M, S), "wtype"),
        "encoder.conv1.bias": ((1, S), "f32"),
        "encoder.conv2.weight": ((3, S, S), "wtype"),
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
