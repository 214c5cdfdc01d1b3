"""How much of an utterance is voiced: the gate's test that it is speech at all.

Vowels and voiced consonants repeat a glottal pulse 50 to 500 times a second, so most
loud frames of a spoken utterance are periodic at one pitch period, whatever the
language, emotion or channel (the telephone band removes the fundamental but keeps
its harmonics, which repeat at the same period). Noise whose loudness rises and falls
at the syllable rate, clicks and bursts pass a voice activity detector and can sit
near speech in a model's feature space, but they are hardly ever periodic. Music and
tones are periodic; the model's own score turns those away.

A frame is voiced when its normalised autocorrelation, corrected for the analysis
window, peaks at a lag within the pitch range at or above `PERIODICITY`: the method
and the threshold of Praat's pitch tracker (Boersma 1993), without its path search,
since only the share of voiced frames is wanted.
"""

from __future__ import annotations

import numpy as np

from streamser.constants import SAMPLE_RATE_HZ

PITCH_RANGE_HZ = (50.0, 500.0)
WINDOW_SAMPLES = 2 * int(SAMPLE_RATE_HZ / PITCH_RANGE_HZ[0])
"""40 ms: two periods of the lowest pitch, as Boersma (1993) asks."""
HOP_SAMPLES = WINDOW_SAMPLES
"""Windows back to back: a share needs no finer steps than the windows themselves."""
PERIODICITY = 0.45
"""Praat's default voicing threshold."""
LOUD_RANGE_DB = 35.0
"""Frames more than this below the utterance's loudest frame are pauses, not judged."""
SILENCE_DBFS = -70.0
"""Frames quieter than this (full scale = 0 dB) are never judged."""
MIN_VOICED_SHARE = 0.2
"""What the gate asks of an utterance by default. None of 4,333 utterances of real speech
(acted German, wideband and through a telephone line; game lines; IVR prompts in five
languages) fell below it, the lowest at 0.25; in white noise at 5 dB SNR, 0.4 % of the
German did (`python -m training.ood.voicing_check`, docs/OOD.md)."""

_LAGS = (int(SAMPLE_RATE_HZ / PITCH_RANGE_HZ[1]), int(SAMPLE_RATE_HZ / PITCH_RANGE_HZ[0]))
_FFT_SIZE = 1 << int(np.ceil(np.log2(WINDOW_SAMPLES + _LAGS[1] + 1)))
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

    Returns 0.0 for audio shorter than one window (40 ms) or without a loud frame.
    """
    # Double precision: numpy's FFT runs several times faster in it than in single.
    x = np.asarray(samples, dtype=np.float64)
    if x.size < WINDOW_SAMPLES:
        return 0.0
    frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW_SAMPLES)[::HOP_SAMPLES]
    frames = frames - frames.mean(axis=1, keepdims=True)
    level_db = 10.0 * np.log10((frames**2).mean(axis=1) + 1e-20)
    loud = level_db >= max(level_db.max() - LOUD_RANGE_DB, SILENCE_DBFS)
    if not loud.any():
        return 0.0
    frames = frames[loud]
    power = np.abs(np.fft.rfft(frames * _WINDOW, _FFT_SIZE, axis=1)) ** 2
    r = np.fft.irfft(power, _FFT_SIZE, axis=1)[:, : _LAGS[1] + 2]
    r = r / r[:, :1] / _WINDOW_AUTOCORRELATION
    candidates = r[:, _LAGS[0] - 1 : _LAGS[1] + 2]
    inner = candidates[:, 1:-1]
    peaks = (inner >= candidates[:, :-2]) & (inner >= candidates[:, 2:])
    best = np.where(peaks, inner, -np.inf).max(axis=1)
    return float((best >= PERIODICITY).mean())
