#!/usr/bin/env python3
"""CPU cost, latency, WER and memory of the edge-asr worker on the synthesised commands.

  bench_edge_asr.py --binary PATH/edge-asr --model ggml-tiny.en.bin --manifest manifest.jsonl
      [--config NAME=ARGS ...] [--threads 1] [--limit N] [--transcripts PREFIX] [--print-table]

Each --config (default: "fitted=" and "full-window=--full-window") starts its own edge-asr
process with those extra arguments on a Unix socket, then sends every WAV of the manifest over
one Wyoming connection (the PyPI `wyoming` client) in 100 ms chunks. Per WAV: the worker's CPU
time (sum of /proc/PID/task/*/schedstat, nanoseconds, so the client's own cost is not counted)
from the first chunk to the transcript, and the wall time from audio-stop to the transcript.
One warm-up WAV is not counted. Peak RSS is the worker's VmHWM. The output JSON has the same
fields as bench_faster_whisper.py, so the two tables line up.
"""

import argparse
import asyncio
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
from bench_faster_whisper import percentile  # noqa: E402
from wer import wer  # noqa: E402


# What the daemon sends for the demo plant (edge_speech::vocabulary_prompt: entity names).
DEFAULT_PROMPT = "pump 1, pump 2, pump 3, pump 4, press 1, press 2, conveyor 1."


def cpu_ns(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # a thread that just ended
    return total


def vm_hwm_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def read_pcm(path):
    with wave.open(path, "rb") as w:
        if (w.getframerate(), w.getsampwidth(), w.getnchannels()) != (16000, 2, 1):
            raise SystemExit(f"{path}: not 16 kHz mono 16-bit")
        return w.readframes(w.getnframes())


async def transcribe(client, pcm, prompt=None):
    from wyoming.asr import Transcript
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.error import Error
    from wyoming.event import Event

    # "prompt" is edge-asr's extension of transcribe (the daemon sends its vocabulary).
    data = {"language": "en"}
    if prompt:
        data["prompt"] = prompt
    await client.write_event(Event(type="transcribe", data=data))
    await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
    step = 3200
    for i in range(0, len(pcm), step):
        await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=pcm[i:i + step]).event())
    t0 = time.perf_counter()
    await client.write_event(AudioStop().event())
    while True:
        event = await client.read_event()
        if event is None:
            raise SystemExit("edge-asr closed the connection")
        if Transcript.is_type(event.type):
            return Transcript.from_event(event).text, (time.perf_counter() - t0) * 1000
        if Error.is_type(event.type):
            raise SystemExit(f"edge-asr error: {Error.from_event(event).text}")


async def run_config(args, name, extra, rows, audio):
    prompt = None
    if "--prompt" in extra:
        # Not an edge-asr flag: send the daemon's vocabulary prompt with each request.
        extra = extra.replace("--prompt", "")
        prompt = args.prompt_text
    from wyoming.client import AsyncClient

    sock = os.path.join(tempfile.mkdtemp(prefix="edge-asr-bench-"), "asr.sock")
    cmd = [args.binary, "--model", args.model, "--listen", f"unix://{sock}",
           "--threads", str(args.threads)] + shlex.split(extra)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("READY"):
        raise SystemExit(f"edge-asr ({name}) did not start: {line!r}")
    load_ms = (time.perf_counter() - t0) * 1000
    rss_load = vm_hwm_mb(proc.pid)
    try:
        async with AsyncClient.from_uri(f"unix://{sock}") as client:
            await transcribe(client, audio[0], prompt)  # warm-up
            cpu, wall, out = [], [], []
            for r, pcm in zip(rows, audio):
                c0 = cpu_ns(proc.pid)
                text, ms = await transcribe(client, pcm, prompt)
                cpu.append((cpu_ns(proc.pid) - c0) / 1e6)
                wall.append(ms)
                out.append(dict(r, transcript=text, cpu_ms=round(cpu[-1], 1), wall_ms=round(ms, 1)))
        peak = vm_hwm_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait()
    if args.transcripts:
        with open(f"{args.transcripts}-{name}.jsonl", "w") as f:
            for o in out:
                f.write(json.dumps(o, ensure_ascii=False) + "\n")
    audio_s = sum(len(a) for a in audio) / 32000.0
    w = wer([r["text"] for r in rows], [o["transcript"] for o in out])
    return {
        "engine": "edge-asr",
        "compute_type": name,
        "args": extra,
        "threads": args.threads,
        "files": len(rows),
        "audio_s": round(audio_s, 1),
        "warmup_files": 1,
        "load_ms": round(load_ms, 1),
        "cpu_ms": {"p50": round(percentile(cpu, 50), 1), "p95": round(percentile(cpu, 95), 1),
                   "mean": round(sum(cpu) / len(cpu), 1), "max": round(max(cpu), 1)},
        "wall_ms": {"p50": round(percentile(wall, 50), 1), "p95": round(percentile(wall, 95), 1),
                    "mean": round(sum(wall) / len(wall), 1)},
        "cpu_rtf": round(sum(cpu) / 1000 / audio_s, 3),
        **w,
        "rss_mb": {"after_load": round(rss_load, 1), "peak": round(peak, 1)},
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--config", action="append", dest="configs", metavar="NAME=ARGS")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--transcripts", metavar="PREFIX")
    p.add_argument("--print-table", action="store_true")
    p.add_argument("--prompt-text", default=DEFAULT_PROMPT,
                   help="vocabulary prompt for configs whose ARGS contain --prompt")
    args = p.parse_args()
    rows = [json.loads(l) for l in open(args.manifest) if l.strip()]
    if args.limit:
        rows = rows[: args.limit]
    audio = [read_pcm(r["wav"]) for r in rows]
    results = []
    for config in args.configs or ["fitted=", "full-window=--full-window"]:
        name, _, extra = config.partition("=")
        result = asyncio.run(run_config(args, name, extra, rows, audio))
        results.append(result)
        print(json.dumps(result), flush=True)
    if args.print_table:
        from bench_faster_whisper import table
        print()
        print(table(results))


if __name__ == "__main__":
    main()
