"""Conditions change the channel as named: band, SNR, room; the level stage keeps gains."""

from __future__ import annotations

import numpy as np
import pytest

from training.channel import telephone
from training.synthemo import effects
from training.synthemo.conditions import Condition, add_noise, apply_condition

RATE = 16_000


def broadband(seconds: float = 1.0) -> np.ndarray:
    """A harmonic tone with partials up to 7.8 kHz plus white noise: energy everywhere."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * k * 130.0 * t) / np.sqrt(k) for k in range(1, 60))
    noise = np.random.default_rng(0).normal(0.0, 0.3, t.size)
    signal = tone + noise
    return (0.1 * signal / np.abs(signal).max()).astype(np.float32)


def band_energy_db(samples: np.ndarray, low_hz: float, high_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / RATE)
    band = spectrum[(freqs >= low_hz) & (freqs < high_hz)].sum()
    return float(10 * np.log10(band / spectrum.sum() + 1e-20))


def test_telephone_removes_energy_above_4_khz_and_below_the_band():
    source = broadband()
    assert band_energy_db(source, 4000, 8000) > -10
    phone = telephone(source)
    assert phone.dtype == np.float32 and abs(phone.size - source.size) <= 2
    assert band_energy_db(phone, 4000, 8000) < -45
    assert band_energy_db(phone, 0, 150) < -20
    assert band_energy_db(phone, 300, 3400) > -1


def test_telephone_goes_through_mu_law():
    # A quiet tone comes back with G.711's quantisation noise, which a plain
    # band-pass would not add.
    t = np.arange(RATE) / RATE
    tone = (0.001 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    phone = telephone(tone)
    residual = phone[1000:-1000] - telephone(tone * 0)[1000:-1000]
    assert np.std(residual - np.mean(residual)) > 0


@pytest.mark.parametrize("colour", ["white", "pink"])
def test_noise_lands_at_the_requested_snr(colour):
    speech = broadband()
    noisy = add_noise(speech, 10.0, colour, np.random.default_rng(1))
    noise = noisy - speech
    snr = effects.active_level_db(speech) - 10 * np.log10(np.mean(noise**2))
    assert snr == pytest.approx(10.0, abs=0.1)


def density_db(samples: np.ndarray, low_hz: float, high_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / RATE)
    return float(10 * np.log10(spectrum[(freqs >= low_hz) & (freqs < high_hz)].mean()))


def test_pink_noise_falls_by_3_db_per_octave():
    speech = broadband()
    noise = add_noise(speech, 0.0, "pink", np.random.default_rng(2)) - speech
    # 1/f power density: 250-500 Hz lies four octaves below 4-8 kHz, so 12 dB above.
    assert density_db(noise, 250, 500) - density_db(noise, 4000, 8000) == pytest.approx(12, abs=2)


def test_level_stage_sets_reference_plus_gain():
    speech = broadband()
    for gain in (-6.0, 0.0, 6.0):
        levelled = effects.level_stage(speech, gain)
        assert effects.active_level_db(levelled) == pytest.approx(
            effects.REFERENCE_LEVEL_DBFS + gain, abs=0.01
        )


def test_clean_is_untouched():
    speech = broadband()
    assert apply_condition(speech, Condition(), np.random.default_rng(0)) is speech


@pytest.mark.tts
def test_reverb_adds_a_tail_and_is_reproducible():
    burst = np.zeros(RATE // 2, np.float32)
    burst[:800] = broadband(0.05)
    wet = apply_condition(burst, Condition("reverb"), np.random.default_rng(5))
    again = apply_condition(burst, Condition("reverb"), np.random.default_rng(5))
    assert wet.size > burst.size
    assert np.array_equal(wet, again)
    assert np.sqrt(np.mean(wet[2000:6000] ** 2)) > 10 * np.sqrt(
        np.mean(burst[2000:6000] ** 2) + 1e-12
    )
