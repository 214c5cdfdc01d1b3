"""A live look at one stream's input: level and speech state, for meters in a UI.

The capture thread publishes; anyone may read, at any rate, from any thread. The
capture side keeps a copy of the newest block at most every `PUBLISH_INTERVAL_S`
and never waits; the RMS and peak are worked out when someone reads, so a stream
nobody watches (every call of `serve`) does not pay for them on each message.
Both sides swap immutable tuples in by single attribute assignments, which are
atomic in Python, so there is no lock for a slow reader to hold against the
capture thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from streamser.constants import SAMPLE_RATE_HZ

PUBLISH_INTERVAL_S = 0.025
"""At most 40 readings a second: over twice the 10 Hz a meter needs, a negligible cost."""
FLOOR_DBFS = -96.0
"""The level reported for digital silence (16-bit audio has no finer step)."""


@dataclass(frozen=True)
class MeterReading:
    """One stream's input at one moment.

    Attributes:
        level_dbfs: RMS of the newest block, in dB relative to full scale (<= 0).
        peak_dbfs: Peak of the newest block, in dB relative to full scale.
        speech: The segmenter is inside an utterance (speech), else silence.
        audio_s: Seconds of audio the stream has received.
    """

    level_dbfs: float = FLOOR_DBFS
    peak_dbfs: float = FLOOR_DBFS
    speech: bool = False
    audio_s: float = 0.0


SILENT = MeterReading()


class LevelMeter:
    """Written by one capture thread, read by anyone; `update` never blocks."""

    def __init__(self, interval_s: float = PUBLISH_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.reset()

    def update(self, samples: np.ndarray, speech: bool, total_samples: int, now: float) -> None:
        """Publishes `samples` (int16), measured when read, unless a block was published
        under `interval_s` ago; a change of speech state is always published at once."""
        if now - self._published_at < self.interval_s and speech == self._speech:
            return
        self._published_at = now
        self._speech = speech
        self._latest = (samples.copy(), speech, total_samples)

    def read(self) -> MeterReading:
        """The latest reading (the initial silent one before any audio)."""
        latest, (measured, reading) = self._latest, self._measured
        if latest is measured:
            return reading
        samples, speech, total_samples = latest
        level, peak = levels_dbfs(samples)
        reading = MeterReading(level, peak, speech, total_samples / SAMPLE_RATE_HZ)
        self._measured = (latest, reading)
        return reading

    def reset(self) -> None:
        self._published_at = -math.inf
        self._speech = False
        self._latest: tuple[np.ndarray, bool, int] | None = None
        self._measured: tuple[tuple[np.ndarray, bool, int] | None, MeterReading] = (None, SILENT)


def levels_dbfs(samples: np.ndarray) -> tuple[float, float]:
    """RMS and peak of int16 samples in dBFS; `FLOOR_DBFS` for none or silence."""
    if len(samples) == 0:
        return FLOOR_DBFS, FLOOR_DBFS
    x = samples.astype(np.float32) / 32768.0
    rms = float(np.sqrt(np.dot(x, x) / len(x)))
    peak = float(np.max(np.abs(x)))
    return _db(rms), _db(peak)


def _db(amplitude: float) -> float:
    if amplitude <= 0.0:
        return FLOOR_DBFS
    return max(FLOOR_DBFS, 20.0 * math.log10(amplitude))
