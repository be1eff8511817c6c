#!/usr/bin/env bash
# Synthesise every line of commands.jsonl with espeak-ng (its "voice" and "speed") and convert
# it with sox to 16 kHz mono 16-bit PCM WAV. Also writes bad/ (malformed or odd inputs).
#
#   tests/speech/generate.sh [OUT_DIR]
#
# Default OUT_DIR: ${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}/speech/<12 hex of the sha256 of
# commands.jsonl + generate.sh>/. Writes OUT_DIR/<id>.wav, OUT_DIR/manifest.jsonl (each command
# line plus "wav": absolute path and "duration_s") and OUT_DIR/bad/. Skips the work when the
# manifest is already complete. The last stdout line is OUT_DIR.
# Needs: espeak-ng, sox (soxi), python3 (standard library only).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
COMMANDS="$HERE/commands.jsonl"
CACHE="${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}"

for tool in espeak-ng sox soxi python3; do
  command -v "$tool" >/dev/null || { echo "generate.sh: $tool not found" >&2; exit 1; }
done

if [[ $# -ge 1 ]]; then
  OUT_DIR="$1"
else
  HASH="$(cat "$COMMANDS" "$HERE/generate.sh" | sha256sum | cut -c1-12)"
  OUT_DIR="$CACHE/speech/$HASH"
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

if complete; then
  echo "generate.sh: $MANIFEST is complete, nothing to do" >&2
  echo "$OUT_DIR"
  exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# -R: repeatable (fixed seed for dither and noise), so reruns give identical bytes.
to16k() { sox -R "$1" -c 1 -b 16 -e signed-integer "$2" gain -1 rate 16000; }

# id <TAB> voice <TAB> speed <TAB> text
python3 - "$COMMANDS" > "$TMP/lines.tsv" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    if l.strip():
        d = json.loads(l)
        print(f'{d["id"]}\t{d["voice"]}\t{d["speed"]}\t{d["text"]}')
EOF

n=0
while IFS=$'\t' read -r id voice speed text; do
  espeak-ng -v "$voice" -s "$speed" -w "$TMP/raw.wav" -- "$text"
  to16k "$TMP/raw.wav" "$OUT_DIR/$id.wav"
  n=$((n + 1))
done < "$TMP/lines.tsv"
echo "generate.sh: synthesised $n commands" >&2

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
python3 - "$COMMANDS" "$OUT_DIR" "$TMP/durations.tsv" > "$MANIFEST.tmp" <<'EOF'
import json, os, sys
commands, out_dir, durations = sys.argv[1:4]
dur = dict(l.rstrip("\n").split("\t") for l in open(durations))
for l in open(commands):
    if l.strip():
        d = json.loads(l)
        d["wav"] = os.path.join(out_dir, d["id"] + ".wav")
        d["duration_s"] = round(float(dur[d["id"]]), 3)
        print(json.dumps(d))
EOF
mv "$MANIFEST.tmp" "$MANIFEST"
python3 - "$MANIFEST" >&2 <<'EOF'
import json, sys
m = [json.loads(l) for l in open(sys.argv[1])]
print(f"generate.sh: {len(m)} WAVs, {sum(d['duration_s'] for d in m):.1f} s of speech")
EOF
echo "$OUT_DIR"
