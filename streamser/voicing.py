"""How much of an utterance is voiced: the gate's test that it is speech at all.

Vowels and voiced consonants repeat a glottal pulse 50 to 500 times a second, so most
loud frames of a spoken utterance are periodic at one pitch period, whatever the
language, emotion or channel (the telephone band removes the fundamental but keeps
its harmonics, which repeat at the same period). Noise whose loudness rises and falls
at the syllable rate, clicks and bursts pass a voice activity detector and can sit
near speech in a model's feature space, but they are hardly ever periodic. Music and
tones are periodic; the model's own score turns those away.

A frame is voiced when its normalised autocorrelation, corrected for the analysis
window, peaks at a lag within the pitch range at or above `PERIODICITY`: the method and
the threshold of Praat's pitch tracker (Boersma 1993), without its path search, since
only the share of voiced frames is wanted.
"""

from __future__ import annotations

import numpy as np

from streamser.constants import SAMPLE_RATE_HZ

PITCH_RANGE_HZ = (50.0, 500.0)
WINDOW_SAMPLES = 2 * int(SAMPLE_RATE_HZ / PITCH_RANGE_HZ[0])
"""40 ms: two periods of the lowest pitch. Boersma (1993) asks three of a Hann window; a
60 ms window with a 75 Hz floor, measured on real speech (`training.ood.voicing_check`),
turned away voices whose pitch moves or lies low (0.8 % of the game lines, against
none). The price: noise below a few hundred hertz (rumble) can form chance peaks at the
longest lags, which the window correction magnifies, and pass (docs/OOD.md)."""
PERIODICITY = 0.45
"""Praat's default voicing threshold."""
LOUD_RANGE_DB = 35.0
"""Frames more than this below the utterance's loudest frame are pauses, not judged."""
SILENCE_DBFS = -70.0
"""Frames quieter than this (full scale = 0 dB) are never judged."""
MIN_VOICED_SHARE = 0.2
"""What the gate asks of an utterance by default. No real utterance measured fell below
it (EmoDB's 535, wideband and through a telephone line; 768 game lines; 3,030 IVR
prompts in five languages), the lowest at 0.25; in white noise at 5 dB SNR, 0.4 % of
the German did (`python -m training.ood.voicing_check`, docs/OOD.md)."""

_LAGS = (int(SAMPLE_RATE_HZ / PITCH_RANGE_HZ[1]), int(SAMPLE_RATE_HZ / PITCH_RANGE_HZ[0]))


_FFT_SIZE = -(-(WINDOW_SAMPLES + _LAGS[1] + 1) // 256) * 256
"""1024: no wrap-around up to the longest lag, and a length numpy's FFT runs fast."""
_CHUNK_FRAMES = 16
"""Windows transformed together: a chunk's spectra stay in the CPU's cache (an 8 s
utterance costs half as much as in one batch)."""
_WINDOW = np.hanning(WINDOW_SAMPLES)


def _window_autocorrelation() -> np.ndarray:
    power = np.abs(np.fft.rfft(_WINDOW, _FFT_SIZE)) ** 2
    r = np.fft.irfft(power, _FFT_SIZE)[: _LAGS[1] + 2]
    return r / r[0]


_WINDOW_AUTOCORRELATION = _window_autocorrelation()


def voiced_share(samples: np.ndarray) -> float:
    """The share of an utterance's loud frames that are voiced, in [0, 1].

    Args:
        samples: 16 kHz mono audio, float in [-1, 1].

    Returns 0.0 for audio shorter than one window (40 ms), with a value that is not
    finite, or without a loud frame.
    """
    # Double precision: numpy's FFT runs several times faster in it than in single, and
    # windows back to back: a share needs no finer steps than the windows themselves.
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"voiced_share takes mono audio, got shape {x.shape}")
    if x.size < WINDOW_SAMPLES or not np.isfinite(x).all():
        return 0.0  # too short to judge, or broken: never speech
    frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW_SAMPLES)[::WINDOW_SAMPLES]
    frames = frames - frames.mean(axis=1, keepdims=True)
    level_db = 10.0 * np.log10((frames**2).mean(axis=1) + 1e-20)
    loud = level_db >= max(level_db.max() - LOUD_RANGE_DB, SILENCE_DBFS)
    if not loud.any():
        return 0.0
    frames = frames[loud]
    best = np.concatenate(
        [_periodicity(frames[i : i + _CHUNK_FRAMES]) for i in range(0, len(frames), _CHUNK_FRAMES)]
    )
    return float((best >= PERIODICITY).mean())


def _periodicity(frames: np.ndarray) -> np.ndarray:
    """Per frame, the highest local peak of the window-corrected normalised
    autocorrelation within the pitch range (-inf without one)."""
    power = np.abs(np.fft.rfft(frames * _WINDOW, _FFT_SIZE, axis=1)) ** 2
    r = np.fft.irfft(power, _FFT_SIZE, axis=1)[:, : _LAGS[1] + 2]
    r = r / r[:, :1] / _WINDOW_AUTOCORRELATION
    candidates = r[:, _LAGS[0] - 1 : _LAGS[1] + 2]
    inner = candidates[:, 1:-1]
    peaks = (inner >= candidates[:, :-2]) & (inner >= candidates[:, 2:])
    return np.where(peaks, inner, -np.inf).max(axis=1)


def unvoiced(voiced_share: float | None, minimum: float) -> bool:
    """Whether the voicing test, if it ran (`voiced_share` is known), turns an utterance
    away: the one comparison the gate, its events and its evaluation share."""
    return voiced_share is not None and voiced_share < minimum
