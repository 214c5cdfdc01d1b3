"""The voicing measure: voices are periodic at their pitch, noise is not, at any level and
through a telephone band."""

import json

import numpy as np
import pytest

from streamser.audio import load_mono
from streamser.audio.formats import int16_to_float
from streamser.data import demo_audio_path
from streamser.voicing import MIN_VOICED_SHARE, WINDOW_SAMPLES, voiced_share

RATE = 16000


def syllable_rate_noise(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """White noise whose loudness rises and falls four times a second, as syllables do."""
    t = np.arange(int(seconds * RATE)) / RATE
    noise = np.random.default_rng(seed).standard_normal(len(t))
    return (0.1 * noise * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2).astype(np.float32)


def test_a_voice_is_voiced(speechlike):
    assert voiced_share(speechlike) > 0.9


def test_a_voice_without_its_fundamental_is_still_voiced():
    """A telephone line drops everything below 300 Hz; the harmonics left repeat at the
    same period."""
    t = np.arange(2 * RATE) / RATE
    phase = 2 * np.pi * np.cumsum(120 + 15 * np.sin(2 * np.pi * 3 * t)) / RATE
    upper_harmonics = sum(np.sin(k * phase) / k for k in range(3, 28))
    assert voiced_share(0.3 * upper_harmonics) > 0.9


def test_noise_at_the_syllable_rate_is_not():
    assert voiced_share(syllable_rate_noise()) < MIN_VOICED_SHARE


def test_smoothed_noise_is_not_voiced():
    """Noise smoothed to below about 1.5 kHz has longer correlations, but no period. (Noise
    smoothed further, rumble, can reach 0.3: `WINDOW_SAMPLES` says why.)"""
    noise = np.random.default_rng(2).standard_normal(2 * RATE)
    smoothed = np.convolve(noise, np.ones(10) / 10, mode="same")
    assert voiced_share(0.1 * smoothed) < MIN_VOICED_SHARE


def test_broken_or_misshapen_audio(speechlike):
    broken = speechlike.copy()
    broken[100] = np.nan
    assert voiced_share(broken) == 0.0  # never speech
    with pytest.raises(ValueError, match="mono audio"):
        voiced_share(np.stack([speechlike, speechlike]))


def test_the_share_does_not_depend_on_the_level(speechlike):
    loud, quiet = voiced_share(speechlike), voiced_share(speechlike * 0.01)
    assert quiet == pytest.approx(loud)
    assert voiced_share(syllable_rate_noise() * 5) < MIN_VOICED_SHARE


def test_a_voice_in_noise_at_5_db_snr_stays_above_the_default(speechlike):
    noise = np.random.default_rng(1).standard_normal(len(speechlike))
    noise *= np.sqrt(np.mean(speechlike**2) / 10 ** (5 / 10))
    assert voiced_share(speechlike + noise.astype(np.float32)) > MIN_VOICED_SHARE


def test_silence_and_audio_shorter_than_a_window_have_no_voiced_frames(speechlike):
    assert voiced_share(np.zeros(RATE, np.float32)) == 0.0
    assert voiced_share(speechlike[: WINDOW_SAMPLES - 1]) == 0.0


def test_every_utterance_of_the_demo_is_voiced():
    audio = int16_to_float(load_mono(demo_audio_path()))
    segments = json.loads(demo_audio_path().with_suffix(".json").read_text())["segments"]
    for segment in segments:
        span = audio[int(segment["start_s"] * RATE) : int(segment["end_s"] * RATE)]
        assert voiced_share(span) > 0.3, segment["emotion"]
