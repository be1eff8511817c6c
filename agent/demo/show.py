"""Pretty-prints edge-agent outcomes (JSON) and status for the demo."""
import json
import sys

for raw in sys.stdin.read().splitlines():
    if not raw.strip():
        continue
    o = json.loads(raw)
    if "skills" in o:
        print(f"edge-agentd {o['version']} ready: {len(o['skills'])} skills, {o['intents']} intents, "
              f"{o['templates']} templates, mqtt {o['mqtt']}")
        continue
    slots = " ".join(f"{k}={v}" for k, v in o["slots"].items())
    print(f"  [{o['origin']}] {o['text']!r}\n"
          f"      -> {o['intent']} {slots} (confidence {o['confidence']:.2f}, {o['latency_us']} us)\n"
          f"      agent: {o['response']}")
