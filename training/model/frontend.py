"""Waveform -> normalised log-mel, inside the network so the ONNX file carries it.

The STFT is a fixed `conv1d` whose kernels are the windowed cos/sin basis: it
exports with either ONNX exporter and runs 2-3x faster in onnxruntime than the
ONNX STFT operator. The mel filterbank is librosa's (HTK scale, no area
normalisation, the same as torchaudio's default), and per-utterance
normalisation removes the level of the recording, which differs between
corpora and microphones far more than emotion does. It is global (one mean and
standard deviation over all bands and frames) by default: per-band
normalisation would also remove the long-term spectrum, and with it spectral
tilt, a voice-quality cue that separates angry from sad speech.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from training.config import FrontendConfig


def mel_filterbank(config: FrontendConfig) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] triangular filters (HTK mel scale, unnormalised)."""
    return librosa.filters.mel(
        sr=config.sample_rate_hz,
        n_fft=config.n_fft,
        n_mels=config.n_mels,
        fmin=config.f_min_hz,
        fmax=config.f_max_hz,
        htk=True,
        norm=None,
    )


class PowerSpectrogram(nn.Module):
    """|STFT|^2 with a periodic Hann window, centred frames and reflect padding."""

    def __init__(self, n_fft: int, hop_samples: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_samples = hop_samples
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
        angle = 2 * torch.pi * k * n / n_fft
        basis = torch.cat([torch.cos(angle) * window, -torch.sin(angle) * window])
        self.register_buffer("basis", basis.float()[:, None, :], persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """[batch, samples] -> [batch, n_fft // 2 + 1, frames]."""
        padded = F.pad(waveform[:, None, :], (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        spectrum = F.conv1d(padded, self.basis, stride=self.hop_samples)
        real, imag = spectrum.chunk(2, dim=1)
        return real.square() + imag.square()


class LogMelFrontend(nn.Module):
    """[batch, samples] float waveform -> [batch, n_mels, frames] normalised log-mel."""

    def __init__(self, config: FrontendConfig | None = None) -> None:
        super().__init__()
        config = config or FrontendConfig()
        self.config = config
        self.spectrogram = PowerSpectrogram(config.n_fft, config.hop_samples)
        self.register_buffer(
            "mel", torch.from_numpy(mel_filterbank(config)).float(), persistent=False
        )

    def mel_power(self, waveform: torch.Tensor) -> torch.Tensor:
        """The mel power spectrogram before the log (what librosa/torchaudio return)."""
        return torch.matmul(self.mel, self.spectrogram(waveform))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        features = torch.log(self.mel_power(waveform) + self.config.log_floor)
        if self.config.normalise == "none":
            return features
        axes = (-1,) if self.config.normalise == "band" else (-2, -1)
        mean = features.mean(dim=axes, keepdim=True)
        std = features.std(dim=axes, keepdim=True, unbiased=False)
        return (features - mean) / (std + 1e-5)
