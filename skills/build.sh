#!/usr/bin/env bash
# Builds every skill (and the test skills under tests/skills) for wasm32-wasip2 and
# assembles installable skill directories: OUT/NAME/{skill.toml, NAME.wasm} for the
# example skills, OUT/../test-skills/NAME/ for the test skills (never installed by the
# demo). OUT defaults to $CARGO_TARGET_DIR/skills (or target/skills). Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
out="${1:-$target_dir/skills}"
rustup target list --installed 2>/dev/null | grep -q '^wasm32-wasip2$' || rustup target add wasm32-wasip2
cargo build --quiet --release --locked --target wasm32-wasip2 --manifest-path "$here/Cargo.toml" --target-dir "$target_dir"
test_out="$(dirname "$out")/test-skills"
assemble() { # assemble MANIFEST DEST_ROOT
  local dir name wasm
  dir="$(dirname "$1")"
  name="$(basename "$dir")"
  wasm="$target_dir/wasm32-wasip2/release/${name//-/_}.wasm"
  mkdir -p "$2/$name"
  cp "$1" "$2/$name/skill.toml"
  if [ -f "$wasm" ]; then
    cp "$wasm" "$2/$name/$name.wasm"
  fi
}
rm -rf "$out" "$test_out"
mkdir -p "$out" "$test_out"
for manifest in "$here"/*/skill.toml; do assemble "$manifest" "$out"; done
for manifest in "$repo"/tests/skills/*/skill.toml; do assemble "$manifest" "$test_out"; done
echo "skills: $out"
