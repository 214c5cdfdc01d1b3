"""How voiced is real speech, and how voiced is what is not speech? The evidence for the
gate's default `streamser.voicing.MIN_VOICED_SHARE`.

Usage: python -m training.ood.voicing_check --emodb DIR [-o FILE.json]

Every source is cut as the runtime cuts it where it is a recording of several
utterances (the segmenter's spans); EmoDB files are one utterance each and are read
whole, wideband, through the telephone line and in white noise at 10, 5 and 0 dB SNR
(noise at the utterance's mean power). Per source: how many utterances, the lowest
share, the 1st, 5th and 50th percentiles, and the share below the default.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from streamser.audio import load_mono
from streamser.audio.formats import int16_to_float
from streamser.voicing import MIN_VOICED_SHARE, voiced_share
from training.channel import telephone
from training.experiment import load_data
from training.ood.sets import OodSetOptions, non_speech_set, segment
from training.real_speech import asterisk_prompts, hedgewars_lines

SNRS_DB = (10, 5, 0)
SEED = 0


def summary(shares: Iterable[float]) -> dict:
    """How many, the lowest, the 1st, 5th and 50th percentiles, and the share below the
    gate's default."""
    values = np.asarray(list(shares), dtype=np.float64)
    low, p1, p5, median = np.quantile(values, [0.0, 0.01, 0.05, 0.5])
    return {
        "utterances": int(values.size),
        "min": round(float(low), 3),
        "p1": round(float(p1), 3),
        "p5": round(float(p5), 3),
        "median": round(float(median), 3),
        "below_default": round(float((values < MIN_VOICED_SHARE).mean()), 4),
    }


def in_white_noise(rng: np.random.Generator, snr_db: float) -> Callable[[np.ndarray], np.ndarray]:
    """A channel that adds white noise at `snr_db` below the utterance's mean power."""

    def add(x: np.ndarray) -> np.ndarray:
        noise = rng.standard_normal(x.size) * np.sqrt(np.mean(x**2) / 10 ** (snr_db / 10))
        return (x + noise).astype(np.float32)

    return add


def measure(emodb: Path) -> dict:
    """Every source's summary, keyed by a readable name (the JSON this module prints)."""
    rng = np.random.default_rng(SEED)
    clean = [int16_to_float(load_mono(u.path)) for u in load_data((f"emodb={emodb}",))]
    channels: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "wideband": lambda x: x,
        "telephone": telephone,
    }
    channels |= {f"white noise {snr} dB SNR": in_white_noise(rng, snr) for snr in SNRS_DB}
    results = {
        f"emodb, {name}": summary(voiced_share(change(x)) for x in clean)
        for name, change in channels.items()
    }
    for name, utterances in (
        ("asterisk prompts", asterisk_prompts()),
        ("hedgewars lines", hedgewars_lines()),
    ):
        spans = (span for u in utterances for span in segment(load_mono(u.path)))
        results[name] = summary(voiced_share(int16_to_float(span)) for span in spans)
    options = OodSetOptions()
    sounds = non_speech_set(options.non_speech_count, options.music_count, options.seed)
    by_kind: dict[str, list[float]] = {}
    for kind, clip in zip(sounds.kinds, sounds.audio, strict=True):
        for span in segment(clip):
            by_kind.setdefault(kind, []).append(voiced_share(int16_to_float(span)))
    results |= {f"non-speech: {kind}": summary(shares) for kind, shares in by_kind.items()}
    return {"min_voiced_share": MIN_VOICED_SHARE, "sources": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emodb", type=Path, required=True, help="an EmoDB folder")
    parser.add_argument("-o", "--output", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    report = json.dumps(measure(args.emodb), indent=1)
    if args.output:
        args.output.write_text(report + "\n")
    sys.stdout.write(report + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
