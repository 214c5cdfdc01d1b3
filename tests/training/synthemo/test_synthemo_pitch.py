"""The YIN tracker the sanity report relies on, checked on signals with a known F0."""

from __future__ import annotations

import numpy as np
import pytest

from training.synthemo.pitch import PitchOptions, median_f0, track_f0

RATE = 16_000


def harmonic_tone(f0_hz: float, seconds: float = 1.0, harmonics: int = 10) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * k * f0_hz * t + k) / k for k in range(1, harmonics + 1))
    noise = np.random.default_rng(0).normal(0.0, 0.01, t.size)
    return (0.3 * tone + noise).astype(np.float32)


@pytest.mark.parametrize("f0_hz", [75.0, 110.0, 165.0, 220.0, 330.0, 440.0])
def test_recovers_f0_of_harmonic_tone_within_two_percent(f0_hz):
    assert median_f0(harmonic_tone(f0_hz)) == pytest.approx(f0_hz, rel=0.02)


def test_missing_fundamental_still_gives_the_period():
    t = np.arange(RATE) / RATE
    tone = sum(np.sin(2 * np.pi * k * 150.0 * t) for k in range(2, 8))
    assert median_f0(tone) == pytest.approx(150.0, rel=0.02)


def test_int16_input_is_scaled_like_float():
    tone = harmonic_tone(200.0)
    pcm = np.round(tone * 32767).astype(np.int16)
    assert median_f0(pcm) == pytest.approx(median_f0(tone), rel=0.005)


def test_silence_and_noise_are_unvoiced():
    assert not track_f0(np.zeros(RATE)).any()
    noise = np.random.default_rng(1).normal(0.0, 0.1, RATE)
    assert np.mean(track_f0(noise) > 0) < 0.05


def test_follows_a_glide_frame_by_frame():
    t = np.arange(RATE) / RATE
    f0 = 120.0 + 60.0 * t
    tone = sum(np.sin(k * 2 * np.pi * np.cumsum(f0) / RATE) / k for k in range(1, 8))
    track = track_f0(tone)
    centres = (np.arange(track.size) * 160 + (400 + 268) / 2) / RATE
    expected = 120.0 + 60.0 * centres
    voiced = track > 0
    assert voiced.mean() > 0.95
    assert np.max(np.abs(track[voiced] / expected[voiced] - 1)) < 0.03


def test_short_input_and_bad_options():
    assert track_f0(np.zeros(100)).size == 0
    with pytest.raises(ValueError, match="fmin_hz"):
        PitchOptions(fmin_hz=300.0, fmax_hz=200.0)
