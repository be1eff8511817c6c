#!/usr/bin/env python3
"""Benchmark Home Assistant's template matcher `hassil` on our skill templates.

Builds hassil intents equivalent to skills/*/skill.toml plus the built-in dialog
intents, runs tests/resources/nlu/dev.jsonl through them and reports accuracy and
latency in the same terms as our Rust template engine (agent/intent).
Needs Python 3.11+ and `pip install -r requirements.txt` (in a venv outside the repo).
"""

import argparse
import json
import re
import sys
import time
import tomllib
from importlib.metadata import version
from pathlib import Path

try:
    import hassil
    from hassil import Intents, parse_sentence
except ImportError:
    sys.exit("hassil_compare: the 'hassil' package is not installed; "
             "run: pip install -r agent/intent/bench/requirements.txt")

# Older hassil only has `recognize` (first match); newer ones rank all matches.
RECOGNIZE = getattr(hassil, "recognize_best", None) or hassil.recognize

# --- Normalisation -------------------------------------------------------------------
# A copy of agent/intent/src/normalize.rs (keep in sync). Input is normalised exactly
# as our engine does it before hassil sees it, so the comparison measures matching,
# not preprocessing; hassil would otherwise fail on fillers ("uh"), "what's" vs the
# templates' "whats", and politeness phrases that our engine strips.
FILLER_WORDS = {"please", "pls", "uh", "uhh", "uhm", "um", "umm", "er", "erm", "ah",
                "hmm", "mm", "kindly"}
LEADING_PHRASES = ["would you mind", "i would like to", "i would like you to",
                   "i want you to", "id like to", "id like you to", "i want to", "i wanna",
                   "can you", "could you", "would you", "will you", "go ahead and",
                   "hey agent", "hey car"]
TRAILING_PHRASES = ["for me", "thank you", "thanks"]


def tokenize(text):
    out = []
    for i, c in enumerate(text):
        if c in "'\u2019\u2018":
            continue
        if c == "°":
            out.append(" degrees ")
        elif c == "%":
            out.append(" percent ")
        elif c in ".,":
            # A decimal point between digits survives ("21.5"); elsewhere it's punctuation.
            decimal = (c == "." and 0 < i < len(text) - 1
                       and text[i - 1].isdigit() and text[i + 1].isdigit())
            out.append("." if decimal else " ")
        elif c.isalnum():
            out.append(c.lower())
        else:
            out.append(" ")
    tokens = []
    for word in "".join(out).split():
        if word.endswith("c") and re.fullmatch(r"\d+(\.\d+)?", word[:-1]):
            tokens += [word[:-1], "degrees"]  # "22c"
        elif word == "c" and tokens and tokens[-1] == "degrees":
            continue  # "°C" became "degrees c"
        else:
            tokens.append(word)
    return tokens


def _strip(tokens, phrases, leading):
    for phrase in phrases:
        words = phrase.split(" ")
        if len(words) >= len(tokens):
            continue  # never strip everything
        part = tokens[:len(words)] if leading else tokens[-len(words):]
        if part == words:
            return tokens[len(words):] if leading else tokens[:-len(words)]
    return tokens


def normalize(text):
    tokens = [t for t in tokenize(text) if t not in FILLER_WORDS]
    while True:
        before = len(tokens)
        tokens = _strip(_strip(tokens, LEADING_PHRASES, True), TRAILING_PHRASES, False)
        if len(tokens) == before:
            return " ".join(tokens)


UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_to_words(n):
    """Same words as numbers.rs `number_to_words` (0..999999)."""
    def below_thousand(n):
        hundreds, rest = divmod(n, 100)
        words = [UNITS[hundreds], "hundred"] if hundreds else []
        if rest >= 20:
            words += [TENS[rest // 10]] + ([UNITS[rest % 10]] if rest % 10 else [])
        elif rest or not hundreds:
            words.append(UNITS[rest])
        return words
    if n >= 1000:
        thousands, rest = divmod(n, 1000)
        return below_thousand(thousands) + ["thousand"] + (below_thousand(rest) if rest else [])
    return below_thousand(n)


# --- Manifests -> hassil intents ------------------------------------------------------
def enum_phrases(values):
    """Canonical value (with "_" as space) and its synonyms, as engine.rs `enum_phrases`."""
    seen, out = set(), []
    for canonical, synonyms in values.items():
        for phrase in [canonical.replace("_", " "), *synonyms]:
            text = " ".join(tokenize(phrase))
            if text and (text, canonical) not in seen:
                seen.add((text, canonical))
                out.append({"in": text, "out": canonical})
    return out


def entity_phrases(ids, synonyms):
    """Spoken forms of ids, as engine.rs `entity_phrases`: pump-3 -> "pump 3",
    "pump three", "pump number 3", "pump number three", "pump3"; plus synonyms."""
    out = []
    for ident in ids:
        parts = tokenize(ident)
        forms = [[]]
        for part in parts:
            if part.isdigit():
                words = number_to_words(int(part))
                alts = [[part], words, ["number", part], ["number", *words]]
            else:
                alts = [[part]]
            forms = [f + a for f in forms for a in alts]
        if len(parts) > 1:
            forms.append(["".join(parts)])
        forms += [tokenize(s) for s in synonyms.get(ident, [])]
        for form in dict.fromkeys(" ".join(f) for f in forms if f):
            out.append({"in": form, "out": ident})
    return out


def slot_list(slot, types, entities):
    """hassil list for one of our slot definitions."""
    kind = slot["type"]
    if kind in ("number", "integer"):
        # hassil ranges are integer bounds; our unbounded numbers get a wide range.
        rng = {"from": int(slot.get("min", 0)), "to": int(slot.get("max", 1000))}
        if kind == "number" and slot.get("half"):
            # hassil 3.x ranges can add halves: digits ("21.5") and its number words
            # ("twenty one point five"), but not "twenty one and a half" as our
            # engine says it. Older hassil (ranges without `fractions`) can't express
            # halves at all.
            rng["fractions"] = "halves"
        return {"range": rng}
    if kind == "text":
        # hassil wildcards have no length limit: max_words is checked after matching.
        return {"wildcard": True}
    typedef = types[kind]
    if typedef["kind"] == "enum":
        return {"values": enum_phrases(typedef["values"])}
    machine = entities[typedef["list"]]
    return {"values": entity_phrases(machine.get("values", []), machine.get("synonyms", {}))}


def build(repo):
    """hassil intents dict, per-intent slot rules for checks after matching, skipped templates."""
    paths = sorted((repo / "skills").glob("*/skill.toml"))
    paths.append(repo / "agent/intent/builtin/dialog.toml")
    config = tomllib.loads((repo / "agent/config/edge-agent.toml").read_text())
    entities = config.get("nlu", {}).get("entities", {})
    intents, lists, rules, skipped = {}, {}, {}, []
    for path in paths:
        manifest = tomllib.loads(path.read_text())
        types = manifest.get("types", {})
        for name, intent in manifest.get("intents", {}).items():
            # Our slot names are per intent, hassil lists are global: one uniquely named
            # list per (intent, slot), referenced as {list_name:slot_name}.
            prefix = name.replace(".", "_") + "__"
            slots = intent.get("slots", {})
            for slot_name, slot in slots.items():
                lists[prefix + slot_name] = slot_list(slot, types, entities)
            rules[name] = {
                "required": [s for s, d in slots.items() if d.get("required", True)],
                "max_words": {s: d.get("max_words", 8) for s, d in slots.items()
                              if d["type"] == "text"},
                "integer": {s for s, d in slots.items() if d["type"] == "integer"},
            }
            sentences = []
            for template in intent.get("templates", []):
                rewritten = re.sub(r"\{(\w+)\}", lambda m: f"{{{prefix}{m[1]}:{m[1]}}}", template)
                try:
                    parse_sentence(rewritten)
                    sentences.append(rewritten)
                except Exception as err:  # noqa: BLE001 - report whatever hassil rejects
                    skipped.append((path.name, name, template, str(err)))
            if sentences:
                intents[name] = {"data": [{"sentences": sentences}]}
    return {"language": "en", "intents": intents, "lists": lists}, rules, skipped


# --- Recognition and scoring ----------------------------------------------------------
def to_slots(result, rules):
    """(intent, slots) from a hassil result, or ("none", {})."""
    if result is None:
        return "none", {}
    name = result.intent.name
    rule = rules[name]
    slots = {}
    for slot, entity in result.entities.items():
        value = entity.value
        if isinstance(value, str):
            value = value.strip()
        elif slot in rule["integer"] or float(value).is_integer():
            value = int(value)  # hassil gives 22.0 for digits
        slots[slot] = value
    # Our engine rejects parses missing a required slot or with a text slot longer
    # than max_words; hassil knows neither, so apply them to its answer.
    if any(r not in slots for r in rule["required"]) or any(
            len(str(slots[s]).split()) > n for s, n in rule["max_words"].items() if s in slots):
        return "none", {}
    return name, slots


def same_slots(expected, got):
    def same(a, b):
        numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
        return float(a) == float(b) if numbers else a == b
    return expected.keys() == got.keys() and all(same(v, got[k]) for k, v in expected.items())


def percentile(sorted_values, p):
    """Nearest-rank percentile."""
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


def main():
    default_repo = Path(__file__).resolve().parents[3]  # <repo>/agent/intent/bench/
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=default_repo)
    parser.add_argument("--repeat", type=int, default=20, help="timed passes (default 20)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--misses", action="store_true", help="list utterances not accepted")
    args = parser.parse_args()

    spec, rules, skipped = build(args.repo)
    intents = Intents.from_dict(spec)
    for file, name, template, err in skipped:
        print(f"hassil_compare: skipped {file} {name} {template!r}: {err}", file=sys.stderr)
    lines = (args.repo / "tests/resources/nlu/dev.jsonl").read_text().splitlines()
    dev = [json.loads(line) for line in lines if line.strip()]

    # Timed: normalisation + hassil, i.e. what our engine's recognize() does.
    def run(item):
        start = time.perf_counter_ns()
        result = RECOGNIZE(normalize(item["text"]), intents)
        return result, time.perf_counter_ns() - start

    # The warm-up pass also builds hassil's lazy caches (range number words) and is
    # the pass that gets scored; recognition is deterministic.
    tally, misses = {}, []
    for item in dev:
        intent, slots = to_slots(run(item)[0], rules)
        ok = intent == item["intent"]
        accepted = ok and same_slots(item.get("slots", {}), slots)
        for key in ("ALL", item.get("kind", "?")):
            t = tally.setdefault(key, [0, 0, 0])
            t[0], t[1], t[2] = t[0] + 1, t[1] + ok, t[2] + accepted
        if not accepted:
            misses.append((item, intent, slots))

    times = sorted(run(item)[1] for _ in range(args.repeat) for item in dev)
    if not times:
        sys.exit("hassil_compare: nothing timed (empty dev set or --repeat 0)")
    us = [t / 1000 for t in times]
    p50, p99, mean = percentile(us, 50), percentile(us, 99), sum(us) / len(us)

    def rates(t):
        return {"n": t[0], "intent_accuracy": round(t[1] / t[0], 4),
                "acceptance": round(t[2] / t[0], 4)}

    n_templates = sum(len(i["data"][0]["sentences"]) for i in spec["intents"].values())
    if args.json:
        overall = rates(tally["ALL"])
        print(json.dumps({
            "engine": "hassil", "version": version("hassil"), "n": overall["n"],
            "intent_accuracy": overall["intent_accuracy"], "acceptance": overall["acceptance"],
            "per_kind": {k: rates(t) for k, t in sorted(tally.items()) if k != "ALL"},
            "p50_us": round(p50, 1), "p99_us": round(p99, 1), "mean_us": round(mean, 1),
            "templates": n_templates, "templates_skipped": len(skipped),
        }))
    else:
        print(f"hassil {version('hassil')}: {n_templates} templates "
              f"({len(skipped)} skipped), {len(spec['intents'])} intents")
        print(f"{'kind':<12} {'n':>5} {'intent':>8} {'accepted':>10}")
        for key in [k for k in sorted(tally) if k != "ALL"] + ["ALL"]:
            r = rates(tally[key])
            print(f"{key:<12} {r['n']:>5} {100 * r['intent_accuracy']:>7.1f}% "
                  f"{100 * r['acceptance']:>9.1f}%")
        print(f"latency over {len(us)} recognitions ({args.repeat} passes): "
              f"p50 {p50:.1f} us, p99 {p99:.1f} us, mean {mean:.1f} us")
    if args.misses:
        for item, intent, slots in misses:
            print(f"MISS {item['text']!r}: expected {item['intent']} {item.get('slots', {})}, "
                  f"got {intent} {slots}", file=sys.stderr)


if __name__ == "__main__":
    main()
