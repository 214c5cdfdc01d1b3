"""Channel simulations: the phone line band-limits and quantises, the room lengthens decays."""

from __future__ import annotations

import numpy as np
import pytest

from training import channel
from training.channel import g711_round_trip, reverberate, room_impulse_response, telephone
from training.synthemo.conditions import Condition, apply_condition

RATE = 16_000


def broadband(samples: int = RATE) -> np.ndarray:
    """A 130 Hz harmonic tone with partials up to 7.7 kHz plus white noise: energy everywhere."""
    t = np.arange(samples) / RATE
    tone = sum(np.sin(2 * np.pi * k * 130.0 * t) / np.sqrt(k) for k in range(1, 60))
    signal = tone + np.random.default_rng(0).normal(0.0, 0.3, t.size)
    return (0.1 * signal / np.abs(signal).max(initial=1e-9)).astype(np.float32)


def voiced_in_band(samples: int = RATE) -> np.ndarray:
    """A 400 Hz voiced tone whose partials (400-2800 Hz) all lie in the telephone band."""
    t = np.arange(samples) / RATE
    tone = sum(np.sin(2 * np.pi * k * 400.0 * t) / k for k in range(1, 8))
    return (0.3 * tone / np.abs(tone).max()).astype(np.float32)


def share_db(samples: np.ndarray, low_hz: float, high_hz: float) -> float:
    """Energy in [low_hz, high_hz) relative to the total."""
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / RATE)
    band = spectrum[(freqs >= low_hz) & (freqs < high_hz)].sum()
    return float(10 * np.log10(band / spectrum.sum() + 1e-20))


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    error = other.astype(np.float64) - reference
    return float(10 * np.log10(np.mean(reference.astype(np.float64) ** 2) / np.mean(error**2)))


@pytest.mark.parametrize("law", ["mulaw", "alaw"])
def test_telephone_keeps_only_the_telephone_band(law):
    source = broadband()
    assert share_db(source, 3600, 8000) > -10
    assert share_db(source, 0, 200) > -10
    phone = telephone(source, law)
    assert phone.dtype == np.float32 and phone.size == source.size
    assert share_db(phone, 3600, 8000) < -40
    assert share_db(phone, 0, 200) < -35
    assert share_db(phone, 300, 3400) > -0.5


@pytest.mark.parametrize("samples", [32_000, 32_001, 16_003, 7, 0])
def test_telephone_keeps_the_length(samples):
    assert telephone(broadband(samples)).size == samples


def test_synthemo_telephone_condition_keeps_its_historical_length():
    # The 8 kHz leg rounds odd lengths up; SynthEmo corpora were made that way and
    # must regenerate byte for byte, so the condition opts out of keep_length.
    source = broadband(16_003)
    legacy = telephone(source, keep_length=False)
    assert legacy.size == 16_004
    assert np.array_equal(legacy[:-1], telephone(source))
    condition = apply_condition(source, Condition("telephone"), np.random.default_rng(0))
    assert np.array_equal(condition, legacy)


@pytest.mark.parametrize("law", ["mulaw", "alaw"])
def test_telephone_quantises_but_keeps_an_in_band_voice(law, monkeypatch):
    tone = voiced_in_band()
    phone = telephone(tone, law)
    inner = slice(800, -800)  # resampler and FIR edges
    assert np.corrcoef(phone[inner], tone[inner])[0, 1] > 0.999
    with monkeypatch.context() as patch:
        patch.setattr(channel, "g711_round_trip", lambda samples, law: samples)
        linear = telephone(tone, law)
    # The codec, not the band-pass, adds 8-bit companding noise: some 35-40 dB down.
    assert 30 < snr_db(linear[inner], phone[inner]) < 45


def test_the_two_g711_laws_quantise_differently():
    tone = voiced_in_band()
    mulaw, alaw = g711_round_trip(tone, "mulaw"), g711_round_trip(tone, "alaw")
    assert not np.array_equal(mulaw, alaw)
    for coded in (mulaw, alaw):
        assert not np.array_equal(coded, tone)
        assert 30 < snr_db(tone, coded) < 45
    assert not np.array_equal(telephone(tone, "mulaw"), telephone(tone, "alaw"))
    with pytest.raises(ValueError, match="unknown G\\.711 law"):
        telephone(tone, "ulaw")


def impulse(samples: int = RATE, at: int = 1600) -> np.ndarray:
    audio = np.zeros(samples, np.float32)
    audio[at] = 0.5
    return audio


def late_energy_share(audio: np.ndarray, after: int) -> float:
    energy = audio.astype(np.float64) ** 2
    return float(energy[after:].sum() / energy.sum())


def schroeder_t60(response: np.ndarray) -> float:
    """Reverberation time from the -5 to -25 dB slope of the backward-integrated energy."""
    decay = np.cumsum((response.astype(np.float64) ** 2)[::-1])[::-1]
    decay_db = 10 * np.log10(decay / decay[0])
    start, stop = np.argmax(decay_db < -5), np.argmax(decay_db < -25)
    return 3 * (stop - start) / RATE


@pytest.mark.parametrize("rt60", [0.2, 0.5, 0.8])
def test_room_response_decays_by_60_db_in_rt60(rt60):
    response = room_impulse_response(rt60, np.random.default_rng(1))
    assert response[0] == 1.0 and response.size == round(rt60 * RATE)
    assert schroeder_t60(response[1:]) == pytest.approx(rt60, rel=0.1)


def test_room_response_sets_the_direct_to_reverb_ratio():
    response = room_impulse_response(0.5, np.random.default_rng(2), direct_to_reverb_db=6.0)
    assert 10 * np.log10(response[0] ** 2 / np.sum(response[1:] ** 2)) == pytest.approx(6.0)


def test_larger_rt60_leaves_more_energy_after_an_impulse():
    click = impulse()
    shares = []
    for rt60 in (0.2, 0.5, 0.8):
        wet = reverberate(click, rt60, np.random.default_rng(3), direct_to_reverb_db=0.0)
        assert wet.dtype == np.float32 and wet.size == click.size and np.isfinite(wet).all()
        assert np.argmax(np.abs(wet)) == 1600  # the direct path is not delayed
        shares.append(late_energy_share(wet, 1600 + RATE // 10))
    assert np.sum(impulse()[1600 + RATE // 10 :] ** 2) == 0
    assert 0 < shares[0] < shares[1] < shares[2]


def test_reverb_keeps_length_and_level_and_is_reproducible(speechlike):
    wet = reverberate(speechlike, 0.6, np.random.default_rng(4))
    again = reverberate(speechlike, 0.6, np.random.default_rng(4))
    other = reverberate(speechlike, 0.6, np.random.default_rng(5))
    assert wet.dtype == np.float32 and wet.size == speechlike.size and np.isfinite(wet).all()
    assert np.array_equal(wet, again) and not np.array_equal(wet, other)
    rms = np.sqrt(np.mean(speechlike.astype(np.float64) ** 2))
    assert np.sqrt(np.mean(wet.astype(np.float64) ** 2)) == pytest.approx(rms, rel=1e-4)
    # The fixture pauses from 0.6 s to 1.0 s; the room fills the start of that pause.
    pause = slice(int(0.62 * RATE), int(0.7 * RATE))
    assert np.all(speechlike[pause] == 0)
    assert np.sqrt(np.mean(wet[pause] ** 2)) > 0.01 * rms


def test_reverb_edge_cases():
    assert reverberate(np.zeros(0, np.float32), 0.3, np.random.default_rng(0)).size == 0
    silence = reverberate(np.zeros(800, np.float32), 0.3, np.random.default_rng(0))
    assert np.isfinite(silence).all() and not silence.any()
    with pytest.raises(ValueError, match="rt60_s"):
        reverberate(impulse(), 0.0, np.random.default_rng(0))
