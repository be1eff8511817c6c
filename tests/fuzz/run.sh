#!/usr/bin/env bash
# Runs every cargo-fuzz target for a fixed time (not part of the test command).
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET ...]     default 60 s, every target
#
# Installs the nightly toolchain and cargo-fuzz when missing. Corpora grow in
# ~/.cache/edge-agent/fuzz/corpus/<target> (seeded from tests/fuzz/seeds/<target>, which
# come from the tests' inputs); crashes land in tests/fuzz/artifacts/<target>/ (turn each
# into a regression test, then delete it). Prints one line per target: executions, time,
# corpus size, crashes; record them in docs/RELIABILITY.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seconds="${1:-60}"
shift || true
cache="${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}/fuzz"
export CARGO_TARGET_DIR="$cache/target"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo +nightly install cargo-fuzz --locked
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd "$here" && cargo +nightly fuzz list --fuzz-dir "$here")
fi
cd "$here/../.."
cargo +nightly fuzz build --fuzz-dir "$here"
printf '| target | seconds | executions | exec/s | corpus | crashes |\n|---|---|---|---|---|---|\n'
for t in "${targets[@]}"; do
  corpus="$cache/corpus/$t"
  mkdir -p "$corpus" "$here/artifacts/$t"
  cp -n "$here/seeds/$t/"* "$corpus/" 2>/dev/null || true
  log="$cache/$t.log"
  set +e
  cargo +nightly fuzz run --fuzz-dir "$here" "$t" "$corpus" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$here/artifacts/$t/" > "$log" 2>&1
  status=$?
  set -e
  runs=$(grep -o '^Done [0-9]* runs' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  rate=$(( ${runs:-0} / (seconds > 0 ? seconds : 1) ))
  crashes=$(find "$here/artifacts/$t" -type f | wc -l)
  printf '| %s | %s | %s | %s | %s | %s |\n' "$t" "$seconds" "$runs" "$rate" \
    "$(find "$corpus" -type f | wc -l)" "$crashes"
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    echo "fuzz: $t exited with $status; see $log" >&2
  fi
done
