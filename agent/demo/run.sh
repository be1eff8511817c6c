#!/usr/bin/env bash
# The demo: a private D-Bus with the virtual car, an MQTT broker with the virtual plant (its
# presses over Modbus TCP),
# edge-agentd on the demo configuration with its speech and SLM workers, and a scripted list of
# commands (agent/demo/commands.txt, or the file given as $1) spoken by espeak-ng into WAV
# files and sent with `edge-agentctl listen`, then a few over MQTT, printing each transcript,
# recognition, the answer, and what changed in the simulators (from the audit log).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
bash tests/setup.sh
cargo build --workspace --bins --locked --quiet
bash skills/build.sh >/dev/null
bin="${CARGO_TARGET_DIR:-$repo/target}/debug"
commands="${1:-$repo/agent/demo/commands.txt}"

work="$(mktemp -d)"
pids=()
# Stop in reverse order: the daemon before the broker and bus it is connected to.
cleanup() { for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

dbus-daemon --session --nofork --print-address=1 > "$work/bus" 2>/dev/null & pids+=($!)
until [ -s "$work/bus" ]; do sleep 0.05; done
bus="$(head -1 "$work/bus")"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
printf 'listener %s 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n' "$port" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done

# The simulators print "ready" once serving.
"$bin/edge-sim-car" --bus address --address "$bus" > "$work/car.out" 2> "$work/car.log" & pids+=($!)
modbus="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$bin/edge-sim-plant" --port "$port" --modbus-port "$modbus" > "$work/plant.out" 2> "$work/plant.log" & pids+=($!)
for _ in $(seq 200); do grep -q ready "$work/car.out" && grep -q ready "$work/plant.out" && break; sleep 0.05; done

skills="${CARGO_TARGET_DIR:-$repo/target}/skills"
# The sentence encoder fine-tuned on the skills' sentences (minutes the first time, then cached).
"$bin/edge-agentctl" schema --training --skills skills > "$work/training.jsonl" 2>/dev/null
bash agent/models/provision.sh tuned --training "$work/training.jsonl" >/dev/null
model="${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}/models/whisper/ggml-tiny.en-q8_0.bin"
slm="${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}/models/slm/smollm2-135m-instruct.gguf"
encoder="${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}/models/embed/minilm-skills.gguf"
wake="${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}/models/wake"
echo "models: $model, $slm, $encoder, $wake"
sed -e "s|@BUS@|$bus|g" -e "s|@PORT@|$port|g" -e "s|@MODBUS@|$modbus|g" -e "s|@REPO@|$repo|g" -e "s|@WORK@|$work|g" -e "s|@SKILLS@|$skills|g" -e "s|@MODEL@|$model|g" -e "s|@SLM@|$slm|g" -e "s|@ENCODER@|$encoder|g" -e "s|@WAKE@|$wake|g" \
  agent/demo/demo.toml > "$work/config.toml"
# The daemon's microphone: a pipe on its stdin, held open here so it never sees an end.
mkfifo "$work/mic"
exec 7<>"$work/mic"
"$bin/edge-agentd" --config "$work/config.toml" < "$work/mic" & pids+=($!)
ctl=("$bin/edge-agentctl" --bus address --address "$bus")
# Ready once the speech and wake workers have loaded their models and the embedding tier is
# fitted.
for _ in $(seq 600); do
  s="$("${ctl[@]}" status 2>/dev/null || true)"
  grep -q '"asr":{[^}]*"state":"ready"' <<< "$s" && grep -q '"embedding":{[^}]*"state":"ready"' <<< "$s" \
    && grep -q '"wake":{[^}]*"state":"ready"' <<< "$s" && break
  sleep 0.1
done
"${ctl[@]}" status | python3 agent/demo/show.py
touch "$work/audit.jsonl"
world() { python3 agent/demo/show.py --audit "$work/audit.jsonl" "$work/seen"; }

echo "== spoken (espeak-ng -> WAV -> edge-agentctl listen) =="
# sox -R: repeatable dither. Without it each run's audio differs in its lowest bit, and
# Whisper tiny hears "uh navigate to the airport" as "Oh now we gate to come to Airport."
# in some runs and not others.
n=0
: > "$work/last"
say() {
  n=$((n + 1))
  espeak-ng -v en-us -s 160 -w "$work/raw-$n.wav" "$1"
  sox -q -R "$work/raw-$n.wav" -r 16000 -c 1 -b 16 "$work/say-$n.wav"
  echo "  (spoken) \"$1\""
  "${ctl[@]}" listen "$work/say-$n.wav" | python3 agent/demo/show.py | tee "$work/last" || true
}
while IFS= read -r line; do
  case "$line" in
    ""|"#"*) continue ;;
    "\$ "*) read -r -a args <<< "${line#\$ }"; echo "  \$ edge-agentctl ${args[*]}"; "${ctl[@]}" "${args[@]}" | python3 agent/demo/show.py ;;
    "% sleep "*) sleep "${line#% sleep }" ;;
    "% "*) read -r topic payload <<< "${line#% }"; echo "  (plant) $topic <- $payload"; mosquitto_pub -p "$port" -t "$topic" -m "$payload" ;;
    "? "*)
      # An answer, said only when the agent has just asked something (as a person would).
      if grep -q "waiting on station" "$work/last"; then
        say "${line#? }"
      else
        echo "  (no question was asked: \"${line#? }\" not said)"
      fi ;;
    *) say "$line" ;;
  esac
  world
done < "$commands"

echo "== over MQTT (edge-agent/demo-car/cmd/say) =="
timeout 5 mosquitto_sub -p "$port" -t edge-agent/demo-car/events/intent -C 2 > "$work/events" & sub=$!
sleep 0.3
mosquitto_pub -p "$port" -t edge-agent/demo-car/cmd/say -m 'close all windows'
mosquitto_pub -p "$port" -t edge-agent/demo-car/cmd/say -m '{"text": "set the fan to level two"}'
wait "$sub" || true
python3 agent/demo/show.py < "$work/events"
sleep 0.5
world
echo "== hands-free: \"okay nabu\", then the command, from audio alone (a recording into the daemon's microphone) =="
timeout 20 mosquitto_sub -p "$port" -t edge-agent/demo-car/events/wake -t edge-agent/demo-car/events/intent -C 2 > "$work/events" & sub=$!
sleep 0.3
pcm() { espeak-ng -v en-us -s 150 -w "$work/raw.wav" "$1"; sox -q -R "$work/raw.wav" -r 16000 -c 1 -b 16 -e signed -t raw -; }
quiet() { sox -q -R -n -r 16000 -c 1 -b 16 -e signed -t raw - trim 0 "$1"; }
echo '  (microphone) "okay nabu" ... "open the driver window"'
{ quiet 0.5; pcm "okay nabu"; quiet 0.7; pcm "open the driver window"; quiet 1.5; } > "$work/mic"
wait "$sub" || true
python3 agent/demo/show.py < "$work/events"
world
echo "== the troubleshooting report (retained on MQTT, kept in skill-state/reports) =="
timeout 2 mosquitto_sub -p "$port" -t 'plant/troubleshoot/+/report' -C 1 | python3 agent/demo/show.py --report || true
ls "$work/skill-state/reports/troubleshoot" 2>/dev/null | sed 's/^/  kept: /' || true
echo "== spoken replies =="
"${ctl[@]}" status | python3 agent/demo/show.py --tts
echo "== the plant now (retained MQTT state) =="
timeout 2 mosquitto_sub -p "$port" -t 'plant/+/state' -v -C 7 | sed 's/^/  /' || true
