"""Reference wake word probabilities for edge-wake's detector test.

    python wake_reference.py OUT.json WAV [WAV ...]

Runs the wake phrases through PyPI's pyopen-wakeword (Home Assistant's packaging of
openWakeWord, the same TFLite models `provision.sh wake` extracts) and writes, per WAV, the
probability of every phrase at every 80 ms step. Run once; the output is kept as test data
(tests/resources/wake/reference.json). Needs the wheel in the venv:
    $CACHE/venv/bin/pip install --no-deps $CACHE/models/pypi/pyopen_wakeword-1.1.0-*.whl
"""

import json
import sys
import wave
from pathlib import Path

from pyopen_wakeword import Model, OpenWakeWord, OpenWakeWordFeatures

PHRASES = ["okay_nabu", "hey_jarvis"]
CHUNK_BYTES = 1280 * 2  # one 80 ms step of 16-bit samples


def main() -> None:
    out, wavs = sys.argv[1], sys.argv[2:]
    result = {}
    for path in wavs:
        with wave.open(path, "rb") as wav:
            assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (16000, 2, 1), path
            audio = wav.readframes(wav.getnframes())
        scores = {}
        for phrase in PHRASES:
            features = OpenWakeWordFeatures.from_builtin()
            model = OpenWakeWord.from_builtin(Model(phrase))
            # Fed in 80 ms chunks as a live stream is; the first chunk's call also yields the
            # warm-up's probabilities (8 s of silence): one step per chunk is kept, the last.
            steps = []
            for start in range(0, len(audio) - CHUNK_BYTES + 1, CHUNK_BYTES):
                chunk = audio[start : start + CHUNK_BYTES]
                probabilities = [
                    float(p)
                    for embedding in features.process_streaming(chunk)
                    for p in model.process_streaming(embedding)
                ]
                steps.append(round(probabilities[-1], 6))
            scores[phrase] = steps
        result[Path(path).name] = scores
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
