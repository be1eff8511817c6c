"""Synthesises lines with a Piper (neural, VITS) voice: the third voice set of generate.sh.

    python piper_synth.py VOICE.onnx LINES.tsv OUT_DIR

LINES.tsv: id <TAB> espeak-ng voice <TAB> espeak-ng speed <TAB> text (generate.sh's lines).
Writes OUT_DIR/<id>.raw.wav at the voice's rate (22.05 kHz for joe-medium). One speaker, so
the five espeak-ng voices become five settings of the model's noise (how the phonemes are
voiced, noise_scale) and of its durations' noise (rhythm, noise_w_scale); the speed becomes
length_scale = 160 / speed, as for flite. Deterministic: onnxruntime on CPU, fixed settings.
"""

import sys
import wave

from piper import PiperVoice, SynthesisConfig

# espeak-ng voice -> (noise_scale, noise_w_scale); Piper's defaults are 0.667 and 0.8.
STYLES = {
    "en-us": (0.667, 0.8),
    "en-gb": (0.5, 0.6),
    "en-us+m3": (0.8, 0.9),
    "en-gb+f3": (0.6, 1.0),
    "en+m7": (0.75, 0.7),
}


def main() -> None:
    model, lines, out_dir = sys.argv[1:4]
    voice = PiperVoice.load(model)
    for line in open(lines, encoding="utf-8"):
        ident, style, speed, text = line.rstrip("\n").split("\t", 3)
        if style not in STYLES:
            sys.exit(f"piper_synth.py: {ident}: no Piper style for {style!r} (add it to STYLES)")
        noise, noise_w = STYLES[style]
        config = SynthesisConfig(
            length_scale=160 / float(speed), noise_scale=noise, noise_w_scale=noise_w
        )
        with wave.open(f"{out_dir}/{ident}.raw.wav", "wb") as wav:
            voice.synthesize_wav(text, wav, syn_config=config)


if __name__ == "__main__":
    main()
