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
#
# Default configurations: no prompt and no grammar, the entity prompt alone (the default
# before issue 15), and the prompt with the grammar pass (a beam search kept to the grammar;
# gate 7.5 nats). Needs a build of edge-agentctl and edge-asr (CARGO_TARGET_DIR) and the
# models of agent/models/provision.sh. About 2 min per set and configuration on one core.
# BENCH_AUDIO=clean: the clean recordings only (no noisy sets). BENCH_SNR="12 6": the clean
# recordings and only these noisy sets. BENCH_VOICES="piper": only these voice sets.
# BENCH_TIERS=all: every tier the daemon runs (the embedding tier too, and its second opinion
# on grammar-made commands with free text), not the templates alone.
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
# by configuration at the end.
for set in "${sets[@]}"; do
  voices="${set%%:*}"; dir="${set#*:}"
  for i in "${!configs[@]}"; do
    config="${configs[$i]}"
    name="${config%%=*}"; read -r -a flags <<< "${config#*=}"
    case "$dir" in */snr*) audio="${dir##*/snr} dB" ;; *) audio=clean ;; esac
    tiers=(--templates-only)
    [[ "${BENCH_TIERS:-}" == all ]] && tiers=()
    "$ctl" nlu --jsonl "$dir/manifest.jsonl" --skills "$repo/skills" --expect "${tiers[@]}" \
      --asr-model "$model" "${flags[@]}" > "$work/out.jsonl" 2> "$work/err.txt" ||
      { echo "bench_grammar.sh: $name on $dir failed:" >&2; tail -5 "$work/err.txt" >&2; exit 1; }
    python3 - "$work/out.jsonl" "$work/err.txt" "$name" "$voices" "$audio" "$work/base-cpu" "$i" \
      >> "$work/rows-$i.md" <<'PY'
import json, re, sys
out, err, name, voices, audio, base_file, index = sys.argv[1:8]
lines = [json.loads(l) for l in open(out) if l.strip()]
text = open(err).read()
def row(kind):
    m = re.search(rf"^{kind}\s+(\d+)\s+[\d.]+%\s+([\d.]+)%", text, re.M)
    return (int(m.group(1)), float(m.group(2))) if m else (0, 0.0)
(n_cmd, cmd), (n_ood, ood) = row("template"), row("ood")
wer = re.search(r"word error rate ([\d.]+)%", text)
twice = sum(len(l.get("heard", {}).get("hypotheses", [])) > 1 for l in lines)
ms = [l["asr_ms"] for l in lines if "asr_ms" in l]
mean = sum(ms) / len(ms) if ms else float("nan")
cpu = [l["asr_cpu_ms"] for l in lines if "asr_cpu_ms" in l]
cpu_mean = sum(cpu) / len(cpu) if cpu else float("nan")
if index == "0":
    open(base_file, "w").write(str(cpu_mean))
base = float(open(base_file).read())
print(f"| {name} | {voices} | {audio} | {cmd:.1f}% of {n_cmd} | {ood:.1f}% of {n_ood} | "
      f"{wer.group(1) if wer else '?'}% | {twice}/{len(lines)} | {mean:.0f} | {cpu_mean:.0f} | "
      f"{cpu_mean / base:.2f}x |")
PY
  done
done
echo "| configuration | voices | audio | commands acted on | out-of-domain kept none | WER | decoded twice | end of audio → transcript, mean ms | recogniser CPU, mean ms | CPU vs ${configs[0]%%=*} |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for i in "${!configs[@]}"; do cat "$work/rows-$i.md"; done
