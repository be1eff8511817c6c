#!/usr/bin/env python3
"""Word error rate of transcripts against reference texts.

  wer.py [FILE.jsonl ...] [--show-errors]
      Reads JSON lines with "text" (reference) and "transcript" (hypothesis) from the files or
      stdin; prints {"wer": ..., "errors": ..., "words": ..., "sentences": ...,
      "sentence_errors": ..., "ser": ...}. --show-errors also prints each line whose
      normalised forms differ (to stderr).

As a module: normalise(text) -> str, wer(refs, hyps) -> dict (same keys).

Normaliser (deliberately simple, applied to both sides):
  1. lowercase; "-" and "/" become spaces;
  2. numbers written with digits ("1,200" too) become words: "22" -> "twenty two", "21.5" -> "twenty one and
     a half" (the form the commands use), other decimals -> "X point D D", "3rd" etc. are left;
  3. "'s" after what/it/that/there/where/how/who/here becomes " is" ("what's" -> "what is");
  4. every other character that is not a letter, digit, apostrophe or space is dropped, then
     apostrophes are dropped ("driver's" -> "drivers");
  5. whitespace is collapsed.
WER = (substitutions + deletions + insertions) / reference words, summed over all lines
(word-level Levenshtein distance per line). SER = lines with any error / lines.
"""

import json
import re
import sys

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """Integer 0..999_999_999 as English words without "and": 142 -> one hundred forty two."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    for size, name in ((1_000_000, "million"), (1000, "thousand")):
        if n >= size:
            head, rest = divmod(n, size)
            return number_words(head) + " " + name + ("" if rest == 0 else " " + number_words(rest))
    raise ValueError(n)


def _number(m: re.Match) -> str:
    whole, frac = m.group(1), m.group(2)
    if len(whole) > 9:
        return m.group(0)
    words = number_words(int(whole))
    if frac is None:
        return words
    if frac == "5":
        return words + " and a half"
    return words + " point " + " ".join(_ONES[int(d)] for d in frac)


_IS_CONTRACTION = re.compile(r"\b(what|it|that|there|where|how|who|here)'s\b")


def normalise(text: str) -> str:
    t = text.lower().replace("\u2019", "'")
    t = re.sub(r"[-/]", " ", t)
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)
    t = re.sub(r"(?<![\w.])(\d+)(?:\.(\d+))?(?![\d])", _number, t)
    t = _IS_CONTRACTION.sub(r"\1 is", t)
    t = re.sub(r"[^a-z0-9' ]", " ", t)
    t = t.replace("'", "")
    return " ".join(t.split())


def edit_distance(ref: list, hyp: list) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]


def wer(refs, hyps) -> dict:
    """Corpus WER of hypotheses against references (both normalised here)."""
    refs, hyps = list(refs), list(hyps)
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    errors = words = sentence_errors = 0
    for r, h in zip(refs, hyps):
        rw, hw = normalise(r).split(), normalise(h).split()
        e = edit_distance(rw, hw)
        errors += e
        words += len(rw)
        sentence_errors += e > 0
    n = len(refs)
    return {"wer": round(errors / words, 4) if words else 0.0, "errors": errors, "words": words,
            "sentences": n, "sentence_errors": sentence_errors,
            "ser": round(sentence_errors / n, 4) if n else 0.0}


def main(argv):
    show = "--show-errors" in argv
    paths = [a for a in argv if a != "--show-errors"]
    if any(a.startswith("-") and a != "-" for a in paths):
        print(__doc__, file=sys.stderr)
        return 2
    rows = []
    for path in paths or ["-"]:
        f = sys.stdin if path == "-" else open(path, encoding="utf-8")
        rows += [json.loads(l) for l in f if l.strip()]
    rows = [r for r in rows if "text" in r and "transcript" in r]
    if show:
        for r in rows:
            if normalise(r["text"]) != normalise(r["transcript"]):
                print(f'{r.get("id", "")}\tref: {normalise(r["text"])}\n\thyp: {normalise(r["transcript"])}',
                      file=sys.stderr)
    print(json.dumps(wer([r["text"] for r in rows], [r["transcript"] for r in rows])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
