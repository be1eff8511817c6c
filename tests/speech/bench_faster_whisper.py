#!/usr/bin/env python3
"""CPU cost, latency, WER and memory of faster-whisper on the synthesised commands.

  bench_faster_whisper.py --model-dir DIR --manifest OUT_DIR/manifest.jsonl
      [--compute-type int8 --compute-type float32 ...] [--threads 1] [--limit N]
      [--transcripts PREFIX] [--print-table]

Each compute type runs in a fresh subprocess (so its peak RSS is its own) that loads
WhisperModel(DIR, device="cpu", compute_type=..., cpu_threads=--threads, num_workers=1) and
transcribes every WAV of the manifest with beam_size=1, best_of=1, without_timestamps=True,
language="en", condition_on_previous_text=False, vad_filter=False, temperature=0.

Per WAV: CPU time (time.process_time, whole process, around transcribe() plus consuming the
segment generator) and wall time. The WAV is decoded to float32 with the `wave` module before
the timer starts, so decoding is not counted. The first WAV is transcribed once before
measuring (warm-up, not counted). WER against the manifest's "text" uses wer.py's normaliser.

--initial-prompt TEXT: Whisper's initial prompt (the peer of edge-asr's grammar: the skills'
vocabulary, see tests/speech/vocabulary_prompt.py).

Output: one JSON object per compute type on stdout; --print-table adds a markdown table.
--transcripts PREFIX writes PREFIX-<compute type>.jsonl: the manifest lines plus "transcript",
"cpu_ms", "wall_ms" (readable by wer.py).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import wave

HERE = os.path.dirname(os.path.abspath(__file__))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def percentile(values, q):
    s = sorted(values)
    if not s:
        return 0.0
    k = (len(s) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def load_pcm(path):
    import numpy as np
    with wave.open(path, "rb") as w:
        if (w.getframerate(), w.getsampwidth(), w.getnchannels()) != (16000, 2, 1):
            raise SystemExit(f"{path}: not 16 kHz mono 16-bit")
        data = w.readframes(w.getnframes())
    return np.frombuffer(data, dtype=np.int16).astype(np.float32) / 32768.0


def worker(args):
    """Runs in the subprocess: one compute type; prints one JSON object."""
    rss_start = rss_mb()
    from faster_whisper import WhisperModel
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    sys.path.insert(0, HERE)
    from wer import wer

    rows = [json.loads(l) for l in open(args.manifest) if l.strip()]
    if args.limit:
        rows = rows[: args.limit]
    audio = [load_pcm(r["wav"]) for r in rows]
    rss_import = rss_mb()

    t0, c0 = time.perf_counter(), time.process_time()
    model = WhisperModel(args.model_dir, device="cpu", compute_type=args.compute_type,
                         cpu_threads=args.threads, num_workers=1, local_files_only=True)
    load_ms = (time.perf_counter() - t0) * 1000
    load_cpu_ms = (time.process_time() - c0) * 1000
    rss_load = rss_mb()

    opts = dict(beam_size=1, best_of=1, without_timestamps=True, language="en",
                condition_on_previous_text=False, vad_filter=False, temperature=0.0,
                initial_prompt=args.initial_prompt or None)

    def transcribe(pcm):
        segments, _info = model.transcribe(pcm, **opts)
        return " ".join(s.text.strip() for s in segments).strip()

    transcribe(audio[0])  # warm-up
    cpu, wall, out = [], [], []
    for r, pcm in zip(rows, audio):
        c0, t0 = time.process_time(), time.perf_counter()
        text = transcribe(pcm)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        out.append(dict(r, transcript=text, cpu_ms=round(cpu[-1], 1), wall_ms=round(wall[-1], 1)))

    if args.transcripts:
        with open(f"{args.transcripts}-{args.compute_type}.jsonl", "w") as f:
            for o in out:
                f.write(json.dumps(o, ensure_ascii=False) + "\n")

    audio_s = sum(len(a) for a in audio) / 16000.0
    w = wer([r["text"] for r in rows], [o["transcript"] for o in out])
    result = {
        "engine": "faster-whisper",
        "compute_type": args.compute_type,
        "initial_prompt": args.initial_prompt or "",
        "threads": args.threads,
        "model_dir": os.path.abspath(args.model_dir),
        "files": len(rows),
        "audio_s": round(audio_s, 1),
        "warmup_files": 1,
        "load_ms": round(load_ms, 1),
        "load_cpu_ms": round(load_cpu_ms, 1),
        "cpu_ms": {"p50": round(percentile(cpu, 50), 1), "p95": round(percentile(cpu, 95), 1),
                   "mean": round(sum(cpu) / len(cpu), 1), "max": round(max(cpu), 1)},
        "wall_ms": {"p50": round(percentile(wall, 50), 1), "p95": round(percentile(wall, 95), 1),
                    "mean": round(sum(wall) / len(wall), 1)},
        "cpu_rtf": round(sum(cpu) / 1000 / audio_s, 3),
        **w,
        "rss_mb": {"start": round(rss_start, 1), "after_import_and_wavs": round(rss_import, 1),
                   "after_load": round(rss_load, 1), "peak": round(rss_mb(), 1)},
    }
    print(json.dumps(result))


def table(results):
    lines = ["| compute type | threads | files | CPU ms p50 | CPU ms p95 | CPU ms mean | wall ms mean "
             "| CPU RTF | WER | SER | load ms | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f'| {r["compute_type"]} | {r["threads"]} | {r["files"]} | {r["cpu_ms"]["p50"]:.0f} '
                     f'| {r["cpu_ms"]["p95"]:.0f} | {r["cpu_ms"]["mean"]:.0f} | {r["wall_ms"]["mean"]:.0f} '
                     f'| {r["cpu_rtf"]:.3f} | {100 * r["wer"]:.1f}% | {100 * r["ser"]:.1f}% '
                     f'| {r["load_ms"]:.0f} | {r["rss_mb"]["peak"]:.0f} |')
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", required=True, help="CTranslate2 Whisper model directory")
    p.add_argument("--manifest", required=True, help="manifest.jsonl written by generate.sh")
    p.add_argument("--compute-type", action="append", dest="compute_types",
                   help="int8, float32, int8_float32, ... (repeatable; default int8 and float32)")
    p.add_argument("--threads", type=int, default=1, help="cpu_threads (default 1)")
    p.add_argument("--limit", type=int, default=0, help="only the first N WAVs")
    p.add_argument("--transcripts", metavar="PREFIX", help="write PREFIX-<compute type>.jsonl")
    p.add_argument("--print-table", action="store_true", help="also print a markdown table")
    p.add_argument("--initial-prompt", default="",
                   help="Whisper's initial prompt (e.g. the skills' vocabulary)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()

    if not os.path.isfile(os.path.join(args.model_dir, "model.bin")):
        p.error(f"{args.model_dir}: no model.bin (not a CTranslate2 model directory)")
    if not os.path.isfile(args.manifest):
        p.error(f"{args.manifest}: not found (run generate.sh)")

    if args.worker:
        args.compute_type = args.compute_types[0]
        worker(args)
        return

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    results = []
    for ct in args.compute_types or ["int8", "float32"]:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--model-dir", args.model_dir,
               "--manifest", args.manifest, "--compute-type", ct, "--threads", str(args.threads)]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        if args.transcripts:
            cmd += ["--transcripts", args.transcripts]
        if args.initial_prompt:
            cmd += ["--initial-prompt", args.initial_prompt]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, env=env, text=True)
        if proc.returncode != 0:
            sys.exit(f"bench_faster_whisper.py: worker for {ct} failed (exit {proc.returncode})")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(result)
        print(json.dumps(result), flush=True)
    if args.print_table:
        print()
        print(table(results))


if __name__ == "__main__":
    main()
