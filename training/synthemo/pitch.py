"""A small numpy YIN pitch tracker, so the sanity report can check F0 without extra packages.

YIN (de Cheveigné & Kawahara 2002) is chosen over plain autocorrelation because its
cumulative-mean-normalised difference function has an absolute threshold that also
serves as the voicing decision, and it rarely picks the octave below. All frames are
processed at once with FFT cross-correlations, so a 3 s utterance costs a few ms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamser.constants import SAMPLE_RATE_HZ


@dataclass(frozen=True)
class PitchOptions:
    """How the tracker frames and decides.

    Attributes:
        fmin_hz: Lowest F0 searched (sets the longest lag).
        fmax_hz: Highest F0 searched (sets the shortest lag).
        window_ms: Integration window of the difference function.
        hop_ms: Frame step.
        threshold: YIN absolute threshold on the normalised difference; frames whose
            minimum stays above it are unvoiced.
        silence_db: Frames quieter than the loudest frame by more than this are unvoiced.
        min_voiced_frames: Shorter voiced runs are dropped as spurious.
    """

    fmin_hz: float = 60.0
    fmax_hz: float = 500.0
    window_ms: float = 25.0
    hop_ms: float = 10.0
    threshold: float = 0.15
    silence_db: float = 35.0
    min_voiced_frames: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.fmin_hz < self.fmax_hz:
            raise ValueError(f"need 0 < fmin_hz < fmax_hz, got {self.fmin_hz}, {self.fmax_hz}")
        if self.window_ms <= 0 or self.hop_ms <= 0:
            raise ValueError("window_ms and hop_ms must be positive")


def _frames(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    count = 1 + (len(x) - length) // hop
    index = np.arange(length)[None, :] + hop * np.arange(count)[:, None]
    return x[index]


def track_f0(
    samples: np.ndarray,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    options: PitchOptions = PitchOptions(),
) -> np.ndarray:
    """F0 per frame in Hz, 0.0 where the frame is unvoiced or silent.

    Args:
        samples: Mono audio, int16 or float.
        sample_rate_hz: Its sample rate.
        options: Search range and decision thresholds.

    Returns:
        One float64 per `hop_ms` frame.
    """
    raw = np.asarray(samples)
    x = raw.astype(np.float64)
    if np.issubdtype(raw.dtype, np.integer):
        x /= 32768.0
    window = round(options.window_ms * sample_rate_hz / 1000)
    hop = round(options.hop_ms * sample_rate_hz / 1000)
    tau_min = max(2, int(sample_rate_hz / options.fmax_hz))
    tau_max = int(np.ceil(sample_rate_hz / options.fmin_hz))
    length = window + tau_max + 1
    if len(x) < length:
        return np.zeros(0)
    frames = _frames(x, length, hop)
    frames = frames - frames.mean(axis=1, keepdims=True)

    # d(tau) = e(0) + e(tau) - 2 r(tau), with r the cross-correlation of the first
    # `window` samples against the whole frame, all through one FFT per frame.
    size = 1 << int(np.ceil(np.log2(length + window)))
    spectrum_full = np.fft.rfft(frames, size)
    spectrum_head = np.fft.rfft(frames[:, :window], size)
    corr = np.fft.irfft(spectrum_full * np.conj(spectrum_head), size)[:, : tau_max + 1]
    squares = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames**2, axis=1)], axis=1)
    taus = np.arange(tau_max + 1)
    energy_lag = squares[:, taus + window] - squares[:, taus]
    diff = energy_lag[:, :1] + energy_lag - 2.0 * corr
    diff[:, 0] = 0.0
    diff = np.maximum(diff, 0.0)

    # Cumulative mean normalised difference (YIN step 3).
    cumulative = np.cumsum(diff[:, 1:], axis=1) / taus[1:]
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] / np.maximum(cumulative, 1e-12)

    f0 = np.zeros(len(frames))
    search = cmnd[:, tau_min : tau_max + 1]
    below = search < options.threshold
    has_dip = below.any(axis=1)
    first = np.argmax(below, axis=1)
    rows = np.nonzero(has_dip)[0]
    if rows.size:
        # Walk from the first sub-threshold lag down to the local minimum (YIN step 4).
        tau = first[rows] + tau_min
        for _ in range(tau_max):
            step = (tau + 1 <= tau_max) & (
                cmnd[rows, np.minimum(tau + 1, tau_max)] < cmnd[rows, tau]
            )
            if not step.any():
                break
            tau = tau + step
        # Parabolic interpolation of the raw difference (YIN step 5).
        left = diff[rows, np.maximum(tau - 1, 1)]
        mid = diff[rows, tau]
        right = diff[rows, np.minimum(tau + 1, tau_max)]
        denom = left - 2.0 * mid + right
        safe = np.abs(denom) > 1e-12
        shift = np.zeros_like(denom)
        shift[safe] = 0.5 * (left[safe] - right[safe]) / denom[safe]
        period = tau + np.clip(shift, -1.0, 1.0)
        # A minimum on the edge of the search range is not a period, it is the range.
        f0[rows] = np.where(tau > tau_min, sample_rate_hz / period, 0.0)

    level = 10.0 * np.log10(np.mean(frames[:, :window] ** 2, axis=1) + 1e-12)
    f0[level < level.max() - options.silence_db] = 0.0
    f0[(f0 < options.fmin_hz) | (f0 > options.fmax_hz)] = 0.0
    return _drop_short_runs(f0, options.min_voiced_frames)


def _drop_short_runs(f0: np.ndarray, min_frames: int) -> np.ndarray:
    """Unvoice isolated voiced frames: clicks and distortion products, not syllables."""
    voiced = np.concatenate([[False], f0 > 0, [False]])
    edges = np.diff(voiced.astype(np.int8))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    for start, end in zip(starts, ends, strict=True):
        if end - start < min_frames:
            f0[start:end] = 0.0
    return f0


def median_f0(samples: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ) -> float:
    """Median F0 of the voiced frames in Hz, NaN when nothing is voiced."""
    f0 = track_f0(samples, sample_rate_hz)
    voiced = f0[f0 > 0]
    return float(np.median(voiced)) if voiced.size else float("nan")
