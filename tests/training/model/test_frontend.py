"""The in-graph frontend computes the same features as the reference libraries."""

import librosa
import numpy as np
import pytest
import torch

from training.config import FrontendConfig
from training.model.frontend import LogMelFrontend


@pytest.mark.parametrize("seconds", [0.1, 1.0, 3.3])
def test_mel_power_matches_librosa_melspectrogram(seconds):
    config = FrontendConfig()
    rng = np.random.default_rng(1)
    waveform = (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
    ours = LogMelFrontend(config).mel_power(torch.from_numpy(waveform)[None])[0].numpy()
    reference = librosa.feature.melspectrogram(
        y=waveform,
        sr=16000,
        n_fft=config.n_fft,
        hop_length=config.hop_samples,
        n_mels=config.n_mels,
        fmin=config.f_min_hz,
        fmax=config.f_max_hz,
        htk=True,
        norm=None,
        center=True,
        pad_mode="reflect",
        power=2.0,
    )
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, rtol=1e-3, atol=1e-5 * reference.max())


def test_band_normalisation_gives_each_band_zero_mean_unit_variance():
    waveform = torch.randn(2, 16000) * torch.linspace(0.01, 1.0, 16000)
    features = LogMelFrontend(FrontendConfig(normalise="band"))(waveform)
    np.testing.assert_allclose(features.mean(dim=-1).numpy(), 0.0, atol=1e-4)
    np.testing.assert_allclose(features.std(dim=-1, unbiased=False).numpy(), 1.0, atol=1e-2)


def test_global_normalisation_keeps_the_spectral_tilt():
    rng = np.random.default_rng(0)
    white = torch.from_numpy((0.1 * rng.standard_normal(16000)).astype(np.float32))[None]
    dull = torch.from_numpy(
        np.convolve(white[0].numpy(), np.ones(8) / 8, "same").astype(np.float32)
    )[None]
    frontend = LogMelFrontend()
    for waveform in (white, dull):
        features = frontend(waveform)
        np.testing.assert_allclose(features.mean().item(), 0.0, atol=1e-4)
        np.testing.assert_allclose(features.std(unbiased=False).item(), 1.0, atol=1e-3)
    # The low-passed signal keeps less energy in the top bands than the white one.
    top = slice(48, 64)
    assert frontend(dull)[0, top].mean() < frontend(white)[0, top].mean() - 0.5


def test_level_does_not_change_normalised_features():
    # Features are unit-variance per band, so 0.01 is 1 % of their spread; only the
    # log floor (far below speech levels) keeps the match from being exact.
    waveform = torch.randn(1, 8000, generator=torch.Generator().manual_seed(3)) * 0.05
    frontend = LogMelFrontend()
    np.testing.assert_allclose(
        frontend(waveform).numpy(), frontend(waveform * 8).numpy(), atol=1e-2
    )


def test_a_band_limited_frontend_hears_nothing_outside_its_band():
    """The telephone band (300-3400 Hz) the bundled variant hears: tones below and above
    it leave the mel power more than 30 dB under one inside it (what remains is the
    window's leakage)."""
    frontend = LogMelFrontend(FrontendConfig(f_min_hz=300.0, f_max_hz=3400.0))
    t = np.arange(16000) / 16000

    def power(hz: float) -> float:
        tone = (0.1 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        return float(frontend.mel_power(torch.from_numpy(tone)[None]).sum())

    inside = power(1000.0)
    assert power(120.0) < 1e-3 * inside
    assert power(6000.0) < 1e-3 * inside
