#!/usr/bin/env bash
# Lints the meta-edge-agent layer with oelint-adv (from the venv tests/setup.sh fills) for
# the releases in LAYERSERIES_COMPAT, and checks that the crates includes match the
# Cargo.lock files. Fails on any lint error or a stale include; prints the warnings and a
# count per release. Usage: yocto/lint.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
oelint="${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}/venv/bin/oelint-adv"
[ -x "$oelint" ] || { echo "lint: $oelint missing: run tests/setup.sh" >&2; exit 1; }
mapfile -t recipes < <(find "$here/meta-edge-agent" -name '*.bb' -o -name '*.bbappend' | sort)
releases=$(sed -n 's/^LAYERSERIES_COMPAT_edge-agent = "\(.*\)"/\1/p' "$here/meta-edge-agent/conf/layer.conf")
[ -n "$releases" ] || { echo "lint: no LAYERSERIES_COMPAT in layer.conf" >&2; exit 1; }
failed=0
for release in $releases; do
  # homepageping would reach out to the network; the rest is offline.
  out=$("$oelint" --release "$release" --quiet --relpaths --suppress oelint.vars.homepageping \
    --exit-zero "${recipes[@]}" 2>&1)
  errors=$(grep -c ':error:' <<<"$out" || true)
  warnings=$(grep -c ':warning:' <<<"$out" || true)
  infos=$(grep -c ':info:' <<<"$out" || true)
  grep -E ':(error|warning):' <<<"$out" || true
  echo "lint: oelint-adv --release $release: $errors errors, $warnings warnings, $infos info (${#recipes[@]} recipes)"
  [ "$errors" -eq 0 ] || failed=1
done
python3 "$here/generate-crates-inc.py" --check || failed=1
exit "$failed"
