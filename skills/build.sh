#!/usr/bin/env bash
# Builds every skill (and the test skills under tests/skills) for wasm32-wasip2 and
# assembles installable skill directories: OUT/NAME/{skill.toml, NAME.wasm}.
# OUT defaults to $CARGO_TARGET_DIR/skills (or target/skills). Idempotent; incremental.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
out="${1:-$target_dir/skills}"
rustup target list --installed 2>/dev/null | grep -q '^wasm32-wasip2$' || rustup target add wasm32-wasip2
cargo build --quiet --release --locked --target wasm32-wasip2 --manifest-path "$here/Cargo.toml" --target-dir "$target_dir"
mkdir -p "$out"
for manifest in "$here"/*/skill.toml "$repo"/tests/skills/*/skill.toml; do
  [ -f "$manifest" ] || continue
  dir="$(dirname "$manifest")"
  name="$(basename "$dir")"
  wasm="$target_dir/wasm32-wasip2/release/${name//-/_}.wasm"
  mkdir -p "$out/$name"
  cp "$manifest" "$out/$name/skill.toml"
  if [ -f "$wasm" ]; then
    cp "$wasm" "$out/$name/$name.wasm"
  fi
done
echo "skills: $out"
