"""Pretty-prints edge-agent outcomes, status and audit entries for the demo.

    show.py              outcomes (or status) as JSON lines on stdin
    show.py --audit F S  audit entries of file F not shown yet (S keeps the count of lines seen)
    show.py --report     a troubleshooting report (JSON on stdin)
    show.py --tts        the spoken replies' counters from the status (JSON on stdin)
"""
import json
import sys


def outcome(o):
    if "probability" in o and "name" in o:
        print(f"  (wake word) {o['name']} heard {o.get('audio_ms', 0) / 1000:.1f} s into the stream "
              f"(probability {o['probability']:.2f}); listening for the command")
        return
    if "skills" in o:
        print(f"edge-agentd {o['version']} ready: {len(o['skills'])} skills, {o['intents']} intents, "
              f"{o['templates']} templates, mqtt {o['mqtt']}")
        return
    if "status" in o and "text" not in o:
        print(f"      -> {o}")
        return
    slots = " ".join(f"{k}={v}" for k, v in o["slots"].items())
    if "transcript" in o:
        print(f"      heard in {o['asr_ms']:.0f} ms after the end of speech "
              f"({o['audio_ms'] / 1000:.1f} s of audio); action {o['end_to_action_ms']:.0f} ms after it")
        if o.get("transcript_source") == "grammar":
            print(f"      (heard freely as {o.get('free_transcript')!r}; "
                  f"decoded again toward the skills' grammar)")
        elif o.get("transcript_source") == "known":
            print(f"      (heard freely as {o.get('free_transcript')!r}; "
                  f"read again with the skills' known values, nearly as likely)")
    print(f"  [{o['origin']}] {o['text']!r}\n"
          f"      -> {o['intent']} {slots} (tier {o.get('tier', '?')}, confidence {o['confidence']:.2f}, {o['latency_us']} us)\n"
          f"      agent: {o['response']}")
    if o.get("awaiting"):
        print(f"      (waiting on station {o.get('station')} for an answer to: {o['awaiting']})")


def audit(path, seen_file):
    try:
        with open(seen_file) as f:
            start = int(f.read().strip() or 0)
    except FileNotFoundError:
        start = 0
    with open(path) as f:
        lines = f.read().splitlines()
    for raw in lines[start:]:
        e = json.loads(raw)
        if e["result"] == "pending":
            continue
        old = f"{e['old']} -> " if "old" in e else ""
        new = e.get("new", "")
        print(f"      world: {e['signal']} {old}{new}  [{e['decision']}: {e['result']}]")
    with open(seen_file, "w") as f:
        f.write(str(len(lines)))


def report(r):
    readings = "; ".join(x.get("said", "") for x in r["readings"])
    print(f"  {r['machine']}: {r['conclusion']['fault']} after {len(r['steps'])} steps "
          f"({r['outcome']}); readings: {readings}")
    for step in r["steps"]:
        if step["kind"] == "question":
            print(f"      asked {step['question']!r}: {step['answer']!r} -> {step.get('choice')} "
                  f"(by {step.get('mapped_by')})")


def tts(status):
    t = status.get("tts", {})
    print(f"  {t.get('spoken', 0)} replies spoken by {t.get('backend')} "
          f"({t.get('failed', 0)} failed); the last one is in reply.wav")


if len(sys.argv) == 2 and sys.argv[1] in ("--report", "--tts"):
    data = json.load(sys.stdin)
    (report if sys.argv[1] == "--report" else tts)(data)
elif len(sys.argv) == 4 and sys.argv[1] == "--audit":
    audit(sys.argv[2], sys.argv[3])
else:
    for raw in sys.stdin.read().splitlines():
        if raw.strip():
            outcome(json.loads(raw))
