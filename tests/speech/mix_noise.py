#!/usr/bin/env python3
"""Mix every recording of a manifest with noise at fixed signal-to-noise ratios.

  mix_noise.py MANIFEST [--snr DB ...] [--out-root DIR] [--noise WAV] [--seed N]

MANIFEST is a manifest.jsonl written by generate.sh (16 kHz mono 16-bit PCM WAVs). For each SNR
(default 24 18 12 6 dB) it writes OUT_ROOT/snr<DB>/<id>.wav and OUT_ROOT/snr<DB>/manifest.jsonl:
the source lines with "wav" pointing at the noisy copy and "snr_db" added (other fields,
duration_s included, unchanged). Default OUT_ROOT: <manifest dir>/noisy-<12 hex of the sha256
of this script, the manifest, the noise WAV and the seed>/. An SNR directory whose manifest is
already complete is skipped. stdout: one line per SNR directory, in the order asked, nothing
else; progress and a summary go to stderr. Standard library only.

Noise. By default a car-cabin-like noise made here, deterministically (random.Random(seed), whose
random() sequence Python guarantees for a given seed): brown noise (engine and road rumble) plus
pink noise (tyre and wind hiss, Paul Kellet's filter) plus an engine hum (firing frequency 70 Hz,
i.e. a four-cylinder at 2100 rpm, with harmonics 2, 3, 4 and 6 and a slow +-2 % rpm drift),
DC-blocked and scaled to -20 dBFS RMS. 30 s of it is written once as
$CACHE/speech/noise/cabin-<12 hex of the sha256 of this script and the seed>.wav
(CACHE = ${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}). --noise WAV uses any other
16 kHz mono 16-bit WAV instead (e.g. generate.sh's bad/noise.wav for white noise). Most of the
cabin noise's power is below 300 Hz, so at the same SNR it masks speech less than white noise.

SNR. Each recording is cut into 20 ms frames (320 samples; a last short frame counts as a
frame). A frame is active when its mean square is at most 30 dB below the loudest frame's and
above -80 dBFS; leading and trailing silence (and pauses) fall below that gate. Speech power
P_s = mean square of the speech samples of the active frames; noise power P_n = mean square of
the noise samples laid under those same frames. The noise is scaled by sqrt(P_s / (P_n * 10^(SNR/10)))
and added over the whole recording, so the SNR over the active frames is exactly SNR (before
16-bit rounding, which the summary measures: well under 0.01 dB). If the sum would clip, speech
and noise are scaled down together (same SNR). The noise starts at an offset in the noise WAV
taken from sha256(seed:id), the same for every SNR, and wraps around.

Every run gives the same bytes: fixed seed, no dither, round-half-even.
"""

import argparse
import array
import hashlib
import json
import math
import os
import random
import sys
import wave

RATE = 16000
FRAME = 320            # 20 ms at 16 kHz
GATE_DB = 30.0         # active frames: within this many dB of the loudest frame
FLOOR_MS = (32768 * 10 ** (-80 / 20)) ** 2  # and above -80 dBFS (mean square, in LSB^2)
NOISE_SECONDS = 30
NOISE_RMS_DBFS = -20.0
DEFAULT_SNRS = [24.0, 18.0, 12.0, 6.0]
DEFAULT_SEED = 20240601


def cache_dir() -> str:
    return os.environ.get("EDGE_AGENT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "edge-agent")


def read_wav(path: str) -> array.array:
    with wave.open(path, "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != RATE:
            raise SystemExit(f"mix_noise.py: {path}: need 16 kHz mono 16-bit PCM, got "
                             f"{w.getframerate()} Hz, {w.getnchannels()} ch, {8 * w.getsampwidth()} bit")
        data = array.array("h", w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        data.byteswap()
    return data


def write_wav(path: str, samples) -> None:
    data = array.array("h", samples)
    if sys.byteorder == "big":
        data.byteswap()
    tmp = path + ".tmp"
    with wave.open(tmp, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(data.tobytes())
    os.replace(tmp, path)


def cabin_noise(seed: int, seconds: int = NOISE_SECONDS) -> list:
    """Car-cabin-like noise (see the module docstring), as floats at NOISE_RMS_DBFS."""
    rng = random.Random(seed)
    rnd = rng.random
    n = seconds * RATE
    out = [0.0] * n
    brown = b0 = b1 = b2 = 0.0
    phase = 0.0
    f0 = 70.0
    harmonics = ((1, 1.0), (2, 0.6), (3, 0.35), (4, 0.25), (6, 0.12))
    hum_weight = 0.08
    spare = None
    for i in range(n):
        # Gaussian white noise (Box-Muller over random(), which is stable across versions).
        if spare is None:
            u1 = 1.0 - rnd()
            u2 = rnd()
            r = math.sqrt(-2.0 * math.log(u1))
            w = r * math.cos(2.0 * math.pi * u2)
            spare = r * math.sin(2.0 * math.pi * u2)
        else:
            w, spare = spare, None
        brown = 0.996 * brown + 0.06 * w
        b0 = 0.99765 * b0 + w * 0.0990460
        b1 = 0.96300 * b1 + w * 0.2965164
        b2 = 0.57000 * b2 + w * 1.0526913
        pink = (b0 + b1 + b2 + w * 0.1848) * 0.1
        t = i / RATE
        f = f0 * (1.0 + 0.02 * math.sin(2.0 * math.pi * 0.13 * t))
        phase += 2.0 * math.pi * f / RATE
        hum = sum(a * math.sin(k * phase) for k, a in harmonics)
        out[i] = brown + pink + hum_weight * hum * (1.0 + 0.1 * math.sin(2.0 * math.pi * 0.7 * t))
    # DC blocker (about 3 Hz), then scale to the target RMS.
    x1 = y1 = 0.0
    for i in range(n):
        x = out[i]
        y1 = x - x1 + 0.9988 * y1
        x1 = x
        out[i] = y1
    rms = math.sqrt(sum(v * v for v in out) / n)
    gain = 32768 * 10 ** (NOISE_RMS_DBFS / 20) / rms
    return [v * gain for v in out]


def noise_wav(seed: int) -> str:
    h = hashlib.sha256()
    with open(__file__, "rb") as f:
        h.update(f.read())
    h.update(f"seed={seed}".encode())
    path = os.path.join(cache_dir(), "speech", "noise", f"cabin-{h.hexdigest()[:12]}.wav")
    if not os.path.isfile(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        samples = cabin_noise(seed)
        peak = max(abs(v) for v in samples)
        if peak > 32767:
            samples = [v * 32767 / peak for v in samples]
        write_wav(path, [round(v) for v in samples])
        print(f"mix_noise.py: wrote {path}", file=sys.stderr)
    return path


def active_frames(s) -> list:
    """(start, end) of the 20 ms frames that pass the energy gate."""
    frames = []
    for start in range(0, len(s), FRAME):
        seg = s[start:start + FRAME]
        frames.append((start, start + len(seg), sum(v * v for v in seg) / len(seg)))
    loudest = max((ms for _, _, ms in frames), default=0.0)
    gate = max(loudest * 10 ** (-GATE_DB / 10), FLOOR_MS)
    return [(a, b) for a, b, ms in frames if ms >= gate and ms > 0]


def power(x, spans) -> float:
    total = 0.0
    count = 0
    for a, b in spans:
        total += sum(v * v for v in x[a:b])
        count += b - a
    return total / count


def snr_name(snr: float) -> str:
    return f"snr{snr:g}"


def snr_value(snr: float):
    return int(snr) if snr == int(snr) else snr


def complete(out_dir: str, rows) -> bool:
    man = os.path.join(out_dir, "manifest.jsonl")
    if not os.path.isfile(man):
        return False
    got = [json.loads(l) for l in open(man) if l.strip()]
    return len(got) == len(rows) and all(
        g["id"] == r["id"] and os.path.isfile(g["wav"]) and os.path.getsize(g["wav"]) > 44
        for g, r in zip(got, rows))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifest", help="manifest.jsonl written by generate.sh")
    p.add_argument("--snr", type=float, nargs="+", default=DEFAULT_SNRS, metavar="DB",
                   help="SNRs in dB (default: 24 18 12 6)")
    p.add_argument("--out-root", help="parent of the snr<DB>/ directories")
    p.add_argument("--noise", help="noise WAV (16 kHz mono 16-bit) instead of the cabin noise")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help=f"seed of the cabin noise and of the noise offsets (default {DEFAULT_SEED})")
    args = p.parse_args()

    manifest = os.path.abspath(args.manifest)
    rows = [json.loads(l) for l in open(manifest) if l.strip()]
    if not rows:
        raise SystemExit(f"mix_noise.py: {manifest}: empty")
    noise_path = os.path.abspath(args.noise) if args.noise else noise_wav(args.seed)

    if args.out_root:
        out_root = os.path.abspath(args.out_root)
    else:
        h = hashlib.sha256()
        for path in (__file__, manifest, noise_path):
            with open(path, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
        h.update(f"seed={args.seed}".encode())
        out_root = os.path.join(os.path.dirname(manifest), f"noisy-{h.hexdigest()[:12]}")

    snrs = list(dict.fromkeys(args.snr))
    todo = [snr for snr in snrs if not complete(os.path.join(out_root, snr_name(snr)), rows)]
    if not todo:
        print(f"mix_noise.py: {out_root}: every SNR is complete, nothing to do", file=sys.stderr)
    else:
        noise = read_wav(noise_path)
        if len(noise) < RATE:
            raise SystemExit(f"mix_noise.py: {noise_path}: shorter than 1 s")
        lines = {snr: [] for snr in todo}
        for snr in todo:
            os.makedirs(os.path.join(out_root, snr_name(snr)), exist_ok=True)
        worst = 0.0
        scaled = 0
        for row in rows:
            s = read_wav(row["wav"])
            if not s:
                raise SystemExit(f"mix_noise.py: {row['wav']}: no samples")
            digest = hashlib.sha256(f"{args.seed}:{row['id']}".encode()).digest()
            offset = int.from_bytes(digest[:8], "big") % len(noise)
            reps = (offset + len(s)) // len(noise) + 1
            n = (noise * reps)[offset:offset + len(s)]
            spans = active_frames(s)
            if not spans:
                raise SystemExit(f"mix_noise.py: {row['wav']}: silent, no speech to measure")
            ps = power(s, spans)
            pn = power(n, spans)
            for snr in todo:
                g = math.sqrt(ps / (pn * 10 ** (snr / 10)))
                mix = [a + g * b for a, b in zip(s, n)]
                peak = max(max(mix), -min(mix))
                k = 1.0
                if peak > 32767:
                    k = 32767 / peak
                    mix = [v * k for v in mix]
                    scaled += 1
                out = [round(v) for v in mix]
                # Achieved SNR after rounding, over the same frames.
                sig = res = 0.0
                for a, b in spans:
                    sig += sum((k * v) ** 2 for v in s[a:b])
                    res += sum((o - k * v) ** 2 for o, v in zip(out[a:b], s[a:b]))
                worst = max(worst, abs(10 * math.log10(sig / res) - snr))
                wav = os.path.join(out_root, snr_name(snr), row["id"] + ".wav")
                write_wav(wav, out)
                d = dict(row)
                d["wav"] = wav
                d["snr_db"] = snr_value(snr)
                lines[snr].append(json.dumps(d))
        for snr in todo:
            man = os.path.join(out_root, snr_name(snr), "manifest.jsonl")
            with open(man + ".tmp", "w") as f:
                f.write("\n".join(lines[snr]) + "\n")
            os.replace(man + ".tmp", man)
        print(f"mix_noise.py: {len(rows)} recordings x {len(todo)} SNRs ({' '.join(f'{s:g}' for s in todo)} dB) "
              f"with {os.path.basename(noise_path)}; largest SNR error after rounding {worst:.4f} dB; "
              f"{scaled} mixes scaled down to avoid clipping", file=sys.stderr)
    for snr in snrs:
        print(os.path.join(out_root, snr_name(snr)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
