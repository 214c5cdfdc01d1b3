"""Waveform augmentation for training: small speed changes, noise and gain.

SpecAugment masks live in the network (training mode only); these act on the
waveform before it. Speed perturbation is kept within +-5 % because it moves F0
too, and F0 level is itself an emotion cue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr

from streamser.constants import SAMPLE_RATE_HZ


@dataclass(frozen=True)
class AugmentConfig:
    """Attributes:
    speed_range: Largest relative speed change (0.05 = +-5 %).
    speed_probability: Share of utterances that get a speed change.
    noise_probability: Share that get additive white or pink noise.
    noise_snr_db: SNR range of that noise.
    gain_db: Largest gain change either way.
    """

    speed_range: float = 0.05
    speed_probability: float = 0.5
    noise_probability: float = 0.5
    noise_snr_db: tuple[float, float] = (10.0, 35.0)
    gain_db: float = 6.0


class Augmenter:
    def __init__(self, config: AugmentConfig = AugmentConfig()) -> None:
        self.config = config

    def __call__(self, audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        config = self.config
        if rng.random() < config.speed_probability:
            factor = 1.0 + rng.uniform(-config.speed_range, config.speed_range)
            audio = soxr.resample(audio, SAMPLE_RATE_HZ * factor, SAMPLE_RATE_HZ, quality="LQ")
        if rng.random() < config.noise_probability:
            audio = add_noise(audio, rng.uniform(*config.noise_snr_db), rng)
        gain = 10 ** (rng.uniform(-config.gain_db, config.gain_db) / 20)
        return np.clip(audio * gain, -1.0, 1.0).astype(np.float32)


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White or pink (1/f spectrum) noise scaled to `snr_db` below the signal power."""
    noise = rng.standard_normal(len(audio))
    if rng.random() < 0.5:
        spectrum = np.fft.rfft(noise)
        spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
        noise = np.fft.irfft(spectrum, n=len(audio))
    signal_power = np.mean(audio.astype(np.float64) ** 2) + 1e-12
    noise *= np.sqrt(signal_power / (np.mean(noise**2) + 1e-12) / 10 ** (snr_db / 10))
    return (audio + noise).astype(np.float32)
