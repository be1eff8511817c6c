#!/usr/bin/env bash
# The grammar pass's benchmark, one run: every voice set (espeak-ng = dev, flite = the first
# held-out set, looked at twice since; piper = the second held-out set, a neural voice)
# clean and at 24/18/12/6 dB SNR, through `edge-agentctl nlu` (templates only, the daemon's
# prompt and choice), for the configurations below. Prints one markdown table: commands
# acted on (intent and every slot right, not asked first), out-of-domain kept none, WER,
# recordings decoded twice, the mean time from the end of the audio to the transcript, and
# the recogniser's mean CPU time per recording (its process's user + system time over the
# request: unlike wall time, it does not grow when other programs take the cores), also as a
# ratio to the first configuration's on the same recordings, decoded just before.
#
#   tests/speech/bench_grammar.sh [CONFIG ...]     CONFIG: NAME=nlu flags, e.g.
#     "no-grammar=--asr-grammar-penalty 0" "penalty-10=--asr-grammar-penalty 10"
#     (leading VAR=value words set the environment: "A=EDGE_ASR_STOP_AT_LOOPS=false ...")
#
# Default configurations: no prompt and no grammar, the entity prompt alone (the default
# before issue 15), and the prompt with the grammar pass (a beam search kept to the grammar;
# gate 7.5 nats). Needs a build of edge-agentctl and edge-asr (CARGO_TARGET_DIR) and the
# models of agent/models/provision.sh. About 2 min per set and configuration on one core.
# BENCH_AUDIO=clean: the clean recordings only (no noisy sets). BENCH_SNR="12 6": the clean
# recordings and only these noisy sets. BENCH_VOICES="piper": only these voice sets.
# BENCH_TIERS=all: every tier the daemon runs (the embedding tier too, and its second opinion
# on grammar-made commands with free text), not the templates alone.
# BENCH_REPEAT=2: each set a second time, configurations in reverse order (A B B A); the CPU
# columns average both runs (the way to compare CPU on a machine whose speed drifts).
# The default against the default before issue 15 (run from the repository root):
#   BENCH_AUDIO=clean BENCH_TIERS=all BENCH_REPEAT=2 bash tests/speech/bench_grammar.sh \
#     "before-issue-15=EDGE_ASR_STOP_AT_LOOPS=false --config tests/speech/before-issue-15.toml" \
#     "default="
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}"
ctl="${CARGO_TARGET_DIR:-$repo/target}/debug/edge-agentctl"
model="$cache/models/whisper/ggml-tiny.en-q8_0.bin"
[ -x "$ctl" ] || { echo "bench_grammar.sh: $ctl not found (build it; set CARGO_TARGET_DIR)" >&2; exit 1; }
[ -f "$model" ] || { echo "bench_grammar.sh: $model not found (agent/models/provision.sh asr)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

configs=("$@")
if [ ${#configs[@]} -eq 0 ]; then
  configs=(
    "no-prompt=--asr-grammar-penalty 0 --config $work/no-prompt.toml"
    "entity-prompt=--asr-grammar-penalty 0"
    "grammar=--asr-grammar-penalty 10"
  )
fi
# The embedded default configuration with the vocabulary prompt off.
printf 'version = 1\n[asr]\nvocabulary_prompt = false\n' > "$work/no-prompt.toml"

sets=()
for voices in ${BENCH_VOICES:-espeak-ng flite piper}; do
  mapfile -t dirs < <(bash "$repo/tests/speech/generate.sh" --voices "$voices" --snr 2>/dev/null)
  for d in "${dirs[@]}"; do
    [[ "${BENCH_AUDIO:-}" == clean && "$d" == */snr* ]] && continue
    if [[ -n "${BENCH_SNR:-}" && "$d" == */snr* ]]; then
      [[ " $BENCH_SNR " == *" ${d##*/snr} "* ]] || continue
    fi
    sets+=("$voices:$d")
  done
done

# Each set is decoded under every configuration back to back, so that the CPU ratios compare
# runs minutes apart at most (the machine's speed drifts over a long run); rows are printed
# by configuration at the end. BENCH_REPEAT=2 decodes each set a second time with the
# configurations in reverse order (A B B A) and averages the CPU of both runs, which cancels a
# drift that is steady over the set's runs (one run of the same set has measured 1.25x and
# 1.39x minutes apart).
repeat="${BENCH_REPEAT:-1}"
[[ "$repeat" == 1 || "$repeat" == 2 ]] || { echo "bench_grammar.sh: BENCH_REPEAT must be 1 or 2" >&2; exit 1; }
for set in "${sets[@]}"; do
  voices="${set%%:*}"; dir="${set#*:}"
  order=("${!configs[@]}")
  if [[ "$repeat" == 2 ]]; then
    for ((k = ${#configs[@]} - 1; k >= 0; k--)); do order+=("$k"); done
  fi
  run=0
  for i in "${order[@]}"; do
    run=$((run + 1))
    config="${configs[$i]}"
    name="${config%%=*}"; read -r -a flags <<< "${config#*=}"
    # Leading VAR=value words are the worker's environment (EDGE_ASR_STOP_AT_LOOPS=false).
    envs=()
    while [[ ${#flags[@]} -gt 0 && "${flags[0]}" =~ ^[A-Z_][A-Z0-9_]*= ]]; do
      envs+=("${flags[0]}"); flags=("${flags[@]:1}")
    done
    case "$dir" in */snr*) audio="${dir##*/snr} dB" ;; *) audio=clean ;; esac
    tiers=(--templates-only)
    [[ "${BENCH_TIERS:-}" == all ]] && tiers=()
    env "${envs[@]}" "$ctl" nlu --jsonl "$dir/manifest.jsonl" --skills "$repo/skills" --expect "${tiers[@]}" \
      --asr-model "$model" "${flags[@]}" > "$work/out.jsonl" 2> "$work/err.txt" ||
      { echo "bench_grammar.sh: $name on $dir failed:" >&2; tail -5 "$work/err.txt" >&2; exit 1; }
    python3 - "$work/out.jsonl" "$work/err.txt" "$name" "$voices" "$audio" "$i" "$run" \
      >> "$work/records.jsonl" <<'PY'
import json, re, sys
out, err, name, voices, audio, index, run = sys.argv[1:8]
lines = [json.loads(l) for l in open(out) if l.strip()]
text = open(err).read()
def row(kind):
    m = re.search(rf"^{kind}\s+(\d+)\s+[\d.]+%\s+([\d.]+)%", text, re.M)
    return (int(m.group(1)), float(m.group(2))) if m else (0, 0.0)
(n_cmd, cmd), (n_ood, ood) = row("template"), row("ood")
wer = re.search(r"word error rate ([\d.]+)%", text)
ms = [l["asr_ms"] for l in lines if "asr_ms" in l]
cpu = [l["asr_cpu_ms"] for l in lines if "asr_cpu_ms" in l]
print(json.dumps({
    "config": int(index), "run": int(run), "name": name, "voices": voices, "audio": audio,
    "cmd": cmd, "n_cmd": n_cmd, "ood": ood, "n_ood": n_ood,
    "wer": wer.group(1) if wer else "?",
    "twice": sum(len(l.get("heard", {}).get("hypotheses", [])) > 1 for l in lines),
    "lines": len(lines),
    "ms": sum(ms) / len(ms) if ms else float("nan"),
    "cpu": sum(cpu) / len(cpu) if cpu else float("nan"),
}))
PY
  done
done
echo "| configuration | voices | audio | commands acted on | out-of-domain kept none | WER | decoded twice | end of audio → transcript, mean ms | recogniser CPU, mean ms | CPU vs ${configs[0]%%=*} |"
echo "|---|---|---|---|---|---|---|---|---|---|"
python3 - "$work/records.jsonl" <<'PY'
import json, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[(r["config"], r["voices"], r["audio"])].append(r)
def mean(rs, key):
    return sum(r[key] for r in rs) / len(rs)
for key in sorted(runs, key=lambda k: k[0]):  # stable: sets in the order they were decoded
    rs = sorted(runs[key], key=lambda r: r["run"])
    first, base = rs[0], runs[(0, key[1], key[2])]
    cpu = mean(rs, "cpu")
    print(f"| {first['name']} | {first['voices']} | {first['audio']} | {first['cmd']:.1f}% of {first['n_cmd']} | "
          f"{first['ood']:.1f}% of {first['n_ood']} | {first['wer']}% | {first['twice']}/{first['lines']} | "
          f"{mean(rs, 'ms'):.0f} | {cpu:.0f} | {cpu / mean(base, 'cpu'):.2f}x |")
PY
