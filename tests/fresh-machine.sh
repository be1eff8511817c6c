#!/usr/bin/env bash
# The fresh-machine check: clones this repository into a new directory and runs the README's
# two commands there with an empty build directory and an empty model cache, as a new user
# (or a cold CI run) would, and prints how long each took. Run it whenever set-up, tests or
# CI change (docs/BENCHMARKS.md keeps the figures).
#
# Usage: tests/fresh-machine.sh           demo, then tests (the README's order), then both
#                                         again in the same clone (idempotent, and warm)
#        tests/fresh-machine.sh --ci      only `.ci/run` (the cold CI figure)
#
# What it cannot empty: Debian packages already installed, rustup's targets and cargo's
# download cache (~/.cargo/registry) stay as they are; set-up installs whatever is missing.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
mode="${1:-readme}"
case "$mode" in readme|--ci) ;; *) echo "usage: $0 [--ci]" >&2; exit 2 ;; esac
work="$(mktemp -d "${TMPDIR:-/tmp}/edge-agent-fresh.XXXXXX")"
echo "fresh-machine: clone, build directory and model cache in $work"
git clone --quiet --no-hardlinks "$repo" "$work/clone"
export CARGO_TARGET_DIR="$work/target" EDGE_AGENT_CACHE="$work/cache"
cd "$work/clone"
results=()
step() { # step NAME COMMAND...: runs it, logs to $work/NAME.log, records its time
  local name="$1" start rc=0; shift
  start=$(date +%s)
  echo "fresh-machine: $name: $* (log: $work/$name.log)"
  "$@" > "$work/$name.log" 2>&1 || rc=$?
  results+=("$name: exit $rc in $(( $(date +%s) - start )) s")
  echo "fresh-machine: ${results[-1]}"
  if [ "$rc" -ne 0 ]; then tail -40 "$work/$name.log"; fi
  return "$rc"
}
status=0
if [ "$mode" = --ci ]; then
  CI=true step ci bash .ci/run < /dev/null || status=$?
else
  step demo bash agent/demo/run.sh || status=$?
  step tests bash tests/run.sh || status=$?
  step demo-again bash agent/demo/run.sh || status=$?
  step tests-again bash tests/run.sh || status=$?
fi
echo "fresh-machine: commit $(git rev-parse --short HEAD), $(nproc) cores"
printf '  %s\n' "${results[@]}"
echo "fresh-machine: logs, build and cache kept in $work (remove it when done)"
exit "$status"
