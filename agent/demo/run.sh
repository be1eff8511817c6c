#!/usr/bin/env bash
# The demo: a private D-Bus and MQTT broker, edge-agentd on the demo configuration, and a
# scripted list of commands (agent/demo/commands.txt, or the file given as $1) sent over
# D-Bus and MQTT, printing each recognition and the answer.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
bash tests/setup.sh
cargo build --workspace --bins --locked --quiet
bin="${CARGO_TARGET_DIR:-$repo/target}/debug"
commands="${1:-$repo/agent/demo/commands.txt}"

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

dbus-daemon --session --nofork --print-address=1 > "$work/bus" 2>/dev/null & pids+=($!)
until [ -s "$work/bus" ]; do sleep 0.05; done
bus="$(head -1 "$work/bus")"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 & pids+=($!)
sed -e "s|@BUS@|$bus|" -e "s|@PORT@|$port|" -e "s|@SKILLS@|$repo/skills|" agent/demo/demo.toml > "$work/config.toml"

"$bin/edge-agentd" --config "$work/config.toml" & pids+=($!)
ctl=("$bin/edge-agentctl" --bus address --address "$bus")
for _ in $(seq 100); do "${ctl[@]}" status >/dev/null 2>&1 && break; sleep 0.1; done
"${ctl[@]}" status | python3 agent/demo/show.py

echo "== over D-Bus (edge-agentctl say) =="
while IFS= read -r line; do
  [ -z "$line" ] && continue
  "${ctl[@]}" say "$line" | python3 agent/demo/show.py
done < "$commands"

echo "== over MQTT (edge-agent/demo-car/cmd/say) =="
timeout 5 mosquitto_sub -p "$port" -t edge-agent/demo-car/events/intent -C 2 > "$work/events" & sub=$!
sleep 0.3
mosquitto_pub -p "$port" -t edge-agent/demo-car/cmd/say -m 'start pump two'
mosquitto_pub -p "$port" -t edge-agent/demo-car/cmd/say -m '{"text": "close all windows"}'
wait "$sub" || true
python3 agent/demo/show.py < "$work/events"
