"""Recording conditions applied after the emotion: clean, noise, reverberation, telephone.

A condition changes the channel, not the speaker, so it comes last and leaves the
emotion's level intact (the noise level follows the speech level, not the reverse).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from streamser.constants import SAMPLE_RATE_HZ
from training.channel import telephone
from training.synthemo.effects import active_level_db, run_sox
from training.synthemo.errors import SynthOptionsError

ConditionKind = Literal["clean", "noise", "reverb", "telephone"]
_NOISE = re.compile(r"noise:(-?\d+(?:\.\d+)?)(?::(white|pink))?")


@dataclass(frozen=True)
class Condition:
    """One recording condition.

    Attributes:
        kind: clean, noise, reverb or telephone.
        snr_db: Speech-to-noise ratio for `noise` (speech measured on active frames).
        colour: Noise spectrum for `noise`: pink (1/f, closer to room and babble
            noise) or white.
    """

    kind: ConditionKind = "clean"
    snr_db: float | None = None
    colour: Literal["white", "pink"] = "pink"

    def __post_init__(self) -> None:
        if (self.kind == "noise") != (self.snr_db is not None):
            raise ValueError("snr_db goes with kind='noise' and only with it")

    @classmethod
    def parse(cls, text: str) -> Condition:
        """`clean`, `reverb`, `telephone`, `noise:SNR_DB` or `noise:SNR_DB:white|pink`."""
        text = text.strip()
        if text in ("clean", "reverb", "telephone"):
            return cls(kind=text)  # type: ignore[arg-type]
        match = _NOISE.fullmatch(text)
        if match:
            return cls(kind="noise", snr_db=float(match[1]), colour=match[2] or "pink")  # type: ignore[arg-type]
        raise SynthOptionsError(
            f"unknown condition {text!r} (accepted: clean, reverb, telephone, "
            "noise:SNR_DB, noise:SNR_DB:white, noise:SNR_DB:pink)"
        )

    @property
    def name(self) -> str:
        """The manifest's `condition` value; parses back to the same condition."""
        if self.kind != "noise":
            return self.kind
        snr = f"{self.snr_db:g}"
        return f"noise:{snr}" if self.colour == "pink" else f"noise:{snr}:{self.colour}"

    @property
    def slug(self) -> str:
        """The name as a file-name part (`noise10`, `noise-5white`)."""
        return self.name.replace(":", "")


def _noise(rng: np.random.Generator, count: int, colour: str) -> np.ndarray:
    white = rng.standard_normal(count)
    if colour == "white":
        return white
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(count, 1.0 / SAMPLE_RATE_HZ)
    spectrum[1:] /= np.sqrt(np.maximum(freqs[1:], 20.0))
    spectrum[0] = 0.0
    return np.fft.irfft(spectrum, count)


def add_noise(
    samples: np.ndarray, snr_db: float, colour: str, rng: np.random.Generator
) -> np.ndarray:
    """Noise over the whole file (pauses too), scaled against the active speech level."""
    noise = _noise(rng, len(samples), colour)
    noise_db = 10.0 * np.log10(np.mean(noise**2) + 1e-20)
    target_db = active_level_db(samples) - snr_db
    noise *= 10.0 ** ((target_db - noise_db) / 20.0)
    return (samples + noise).astype(np.float32)


def reverberate(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """sox `reverb` with a random room per utterance (reverberance, damping, size, pre-delay)."""
    reverberance = rng.uniform(30.0, 80.0)
    damping = rng.uniform(20.0, 70.0)
    room_scale = rng.uniform(40.0, 100.0)
    pre_delay_ms = rng.uniform(0.0, 30.0)
    effects = [
        "pad", "0", "0.4",
        "reverb", f"{reverberance:.1f}", f"{damping:.1f}", f"{room_scale:.1f}",
        "100", f"{pre_delay_ms:.1f}",
    ]  # fmt: skip
    return run_sox(samples, SAMPLE_RATE_HZ, effects)


def apply_condition(
    samples: np.ndarray, condition: Condition, rng: np.random.Generator
) -> np.ndarray:
    """`samples` (16 kHz float32) as recorded under `condition`."""
    if condition.kind == "clean":
        return samples
    if condition.kind == "noise":
        assert condition.snr_db is not None
        return add_noise(samples, condition.snr_db, condition.colour, rng)
    if condition.kind == "reverb":
        return reverberate(samples, rng)
    return telephone(samples, keep_length=False)
