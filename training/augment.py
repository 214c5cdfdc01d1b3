"""Waveform augmentation for training: speed, room reverberation, noise, phone line, gain.

SpecAugment masks live in the network (training mode only); these act on the
waveform before it. Speed perturbation is kept within +-5 % because it moves F0
too, and F0 level is itself an emotion cue. Reverberation and the telephone
channel (training.channel) prepare a model trained on wide-band studio speech
for call-center audio: speakerphones in rooms, 8 kHz G.711 lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr

from streamser.constants import SAMPLE_RATE_HZ
from training.channel import reverberate, telephone


@dataclass(frozen=True)
class AugmentConfig:
    """Attributes:
    speed_range: Largest relative speed change (0.05 = +-5 %).
    speed_probability: Share of utterances that get a speed change.
    noise_probability: Share that get additive white or pink noise.
    noise_snr_db: SNR range of that noise.
    gain_db: Largest gain change either way.
    telephone_probability: Share sent through a telephone line (8 kHz, 300-3400 Hz,
        G.711 mu-law or A-law, one or the other at random).
    reverb_probability: Share spoken in a synthetic reverberant room.
    reverb_rt60_s: Range of that room's reverberation time (uniform).
    """

    speed_range: float = 0.05
    speed_probability: float = 0.5
    noise_probability: float = 0.5
    noise_snr_db: tuple[float, float] = (10.0, 35.0)
    gain_db: float = 6.0
    telephone_probability: float = 0.25
    reverb_probability: float = 0.25
    reverb_rt60_s: tuple[float, float] = (0.2, 0.8)


class Augmenter:
    def __init__(self, config: AugmentConfig = AugmentConfig()) -> None:
        self.config = config

    def __call__(self, audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """`audio` (16 kHz float32) augmented; every random choice comes from `rng`.

        The order follows the signal path of a call: the talker (speed), the room
        the talker speaks in (reverb), the background noise picked up by the same
        microphone (noise, added dry after the room), then the phone line, which
        band-limits and G.711-quantises speech, reverb and noise together, so it
        must come after the room and its noise (telephone); last, the level the
        far end receives (gain).
        """
        config = self.config
        if rng.random() < config.speed_probability:
            audio = change_speed(audio, 1.0 + rng.uniform(-config.speed_range, config.speed_range))
        if rng.random() < config.reverb_probability:
            audio = reverberate(audio, rng.uniform(*config.reverb_rt60_s), rng)
        if rng.random() < config.noise_probability:
            audio = add_noise(audio, rng.uniform(*config.noise_snr_db), rng)
        if rng.random() < config.telephone_probability:
            audio = telephone(audio, "alaw" if rng.random() < 0.5 else "mulaw")
        gain = 10 ** (rng.uniform(-config.gain_db, config.gain_db) / 20)
        return np.clip(audio * gain, -1.0, 1.0).astype(np.float32)


def change_speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """Played `factor` times faster (tempo and pitch together), by resampling."""
    return soxr.resample(audio, SAMPLE_RATE_HZ * factor, SAMPLE_RATE_HZ, quality="LQ")


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
