#!/usr/bin/env python3
"""The skills' vocabulary as a Whisper initial prompt, for peers without grammar support.

  edge-agentctl schema --skills skills --recognition | python3 vocabulary_prompt.py [--max-chars 600]

Reads the recognition grammar (GBNF) and prints the words of its string literals once each,
in order of first use, comma-separated, skipping the politeness, number and free-word rules; cut at
--max-chars (Whisper keeps at most half its 448-token context for a prompt).
"""

import argparse
import re
import sys

SKIPPED_RULES = {"lead", "trail", "number", "numword", "numstart", "word"}


def vocabulary(grammar: str) -> list:
    words = []
    for line in grammar.splitlines():
        name, sep, body = line.partition("::=")
        if not sep or name.strip() in SKIPPED_RULES or line.startswith("#"):
            continue
        for literal in re.findall(r'"((?:[^"\\]|\\.)*)"', body):
            for w in literal.split():
                if w not in words:
                    words.append(w)
    return words


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-chars", type=int, default=600)
    args = p.parse_args()
    prompt = ""
    for w in vocabulary(sys.stdin.read()):
        if len(prompt) + len(w) + 2 > args.max_chars:
            break
        prompt = f"{prompt}, {w}" if prompt else w
    print(prompt)


if __name__ == "__main__":
    main()
