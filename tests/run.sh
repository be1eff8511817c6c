#!/usr/bin/env bash
# The test command: installs what is missing, then formatting, lints, build and every test
# (unit, dev-set accuracy, integration against real dbus-daemon and mosquitto).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Integration tests run the binaries; build them first.
cargo build --workspace --bins --locked
cargo test --workspace --locked
echo "all tests passed"
