#!/usr/bin/env python3
"""Copies of a speech set that differ from it only in their lowest bit.

  redither.py MANIFEST --seed N [--seed M ...] [--out-root DIR]

For each seed, writes OUT_ROOT/dither<N>/<id>.wav and OUT_ROOT/dither<N>/manifest.jsonl: every
16-bit sample plus triangular (TPDF) dither rounded to whole steps, from random.Random(seed): a
quarter of the samples move by one least significant bit (about -100 dBFS of noise), the kind of
difference another conversion of the same synthesis with sox's random dither makes. Default OUT_ROOT: <manifest dir>/dither/. stdout: one
line per seed directory; nothing else.

Why: sox seeds its dither afresh on each run unless told -R, and Whisper tiny heard the demo's
"uh navigate to the airport" as "Oh navigate to the airport." or "Oh now we gate to come to
Airport." depending on the draw. Decoding a set under a few draws shows how far a figure on
one draw can move on its own (docs/BENCHMARKS.md). Standard library only.
"""

import argparse
import json
import os
import random
import struct
import sys
import wave


def redither(src, dst, rng):
    with wave.open(src, "rb") as w:
        params = w.getparams()
        frames = w.readframes(w.getnframes())
    if params.sampwidth != 2:
        raise ValueError(f"{src}: expected 16-bit PCM, got {8 * params.sampwidth}-bit")
    n = len(frames) // 2
    samples = struct.unpack(f"<{n}h", frames)
    out = []
    for s in samples:
        d = round(rng.random() + rng.random() - 1.0)  # TPDF: -1, 0 or +1
        out.append(max(-32768, min(32767, s + d)))
    with wave.open(dst, "wb") as w:
        w.setparams(params)
        w.writeframes(struct.pack(f"<{n}h", *out))


def main():
    ap = argparse.ArgumentParser(prog="redither.py")
    ap.add_argument("manifest")
    ap.add_argument("--seed", type=int, action="append", required=True)
    ap.add_argument("--out-root")
    args = ap.parse_args()
    lines = [json.loads(l) for l in open(args.manifest) if l.strip()]
    root = args.out_root or os.path.join(os.path.dirname(os.path.abspath(args.manifest)), "dither")
    for seed in args.seed:
        out = os.path.join(root, f"dither{seed}")
        os.makedirs(out, exist_ok=True)
        rng = random.Random(seed)
        with open(os.path.join(out, "manifest.jsonl.part"), "w") as m:
            for line in lines:
                dst = os.path.join(out, os.path.basename(line["wav"]))
                redither(line["wav"], dst, rng)
                m.write(json.dumps({**line, "wav": dst, "dither_seed": seed}) + "\n")
        os.replace(os.path.join(out, "manifest.jsonl.part"), os.path.join(out, "manifest.jsonl"))
        print(out)


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError) as e:
        print(f"redither.py: {e}", file=sys.stderr)
        sys.exit(1)
