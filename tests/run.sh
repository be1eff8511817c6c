#!/usr/bin/env bash
# The test command: installs what is missing, then formatting, lints, build and every test
# (unit, dev-set accuracy, integration against real dbus-daemon and mosquitto).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo fmt --all --check
cargo fmt --manifest-path skills/Cargo.toml --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy --manifest-path skills/Cargo.toml --target wasm32-wasip2 --release --locked -- -D warnings
# Integration tests run the binaries and the skills' components; build them first.
cargo build --workspace --bins --locked
bash skills/build.sh
# The sentence encoder fine-tuned on the example skills' sentences (minutes the first time;
# made again only when the sentences or the scripts change).
training="$(mktemp)"
cargo run -q --locked -p edge-agentctl -- schema --training --skills skills > "$training"
bash agent/models/provision.sh tuned --training "$training"
rm -f "$training"
cargo test --workspace --locked
# The model converters' own tests (Whisper: header, tensors, splits, mel filters; the
# sentence encoder: metadata, vocabulary, tensors, the reference forward pass; its fine-tuning;
# bad input).
"${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}/venv/bin/python" -m unittest agent/models/test_ct2_to_ggml.py agent/models/test_bert_to_gguf.py agent/models/test_finetune_encoder.py
bash tests/arm64.sh  # aarch64 cross build; the text path and the batch NLU under qemu-aarch64 (docs/ARM64.md)
bash yocto/lint.sh
echo "all tests passed"
