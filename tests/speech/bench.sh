#!/usr/bin/env bash
# The speech benchmark, one run on the same recordings: edge-asr (q8_0 and f16 models, with
# and without the daemon's entity-name prompt; the full 30 s window on the first 16 files)
# against faster-whisper int8 and float32 on the same tiny.en model (CTranslate2 form).
# Prints JSON lines and markdown tables. Usage: tests/speech/bench.sh  (after
# tests/setup.sh --bench and a build of edge-asr; EDGE_ASR picks the binary).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}"
py="$cache/venv/bin/python"
asr="${EDGE_ASR:-${CARGO_TARGET_DIR:-$repo/target}/release/edge-asr}"
out="$(bash "$repo/tests/speech/generate.sh" | tail -1)"
manifest="$out/manifest.jsonl"
model="$cache/models/whisper"
for m in ggml-tiny.en-q8_0 ggml-tiny.en; do
  echo "== edge-asr $m ($asr)"
  "$py" "$repo/tests/speech/bench_edge_asr.py" --binary "$asr" --model "$model/$m.bin" \
    --manifest "$manifest" --config "$m+prompt=--prompt" --config "$m=" --print-table
done
echo "== faster-whisper"
"$py" "$repo/tests/speech/bench_faster_whisper.py" --model-dir "$model/ct2-tiny.en" \
  --manifest "$manifest" --compute-type int8 --compute-type float32 --print-table
echo "== edge-asr f16, whole 30 s window (first 16 recordings)"
"$py" "$repo/tests/speech/bench_edge_asr.py" --binary "$asr" --model "$model/ggml-tiny.en.bin" \
  --manifest "$manifest" --limit 16 --config full-window=--full-window --print-table
