"""Per-stream speaker statistics for speaker-normalised models.

A speaker-normalised model standardises each utterance's features with the
statistics of its speaker's earlier utterances (see the model's metadata,
`speaker_normalisation`). In a live stream the speaker is the stream (one caller,
one agent), so each stream keeps a `SpeakerStatistics`: the running sum and sum of
squares of the features the model returned for it. A new stream starts empty, and
the model's population prior carries its first utterances (the warm-up); older
utterances fade once the window is full, so a stream that changes speaker follows
the new one. `reset()` forgets the speaker (the Python API's `reset_speaker`).
"""

from __future__ import annotations

import threading

import numpy as np

WINDOW_UTTERANCES = 50
"""A stream's statistics remember about this many recent utterances."""


class SpeakerStatistics:
    """Running feature statistics of one stream's speaker.

    Args:
        window_utterances: Past this many utterances, each new one scales the old
            statistics by window / (window + 1): an exponential memory of about
            that many utterances.
    """

    def __init__(self, window_utterances: int = WINDOW_UTTERANCES) -> None:
        if window_utterances < 1:
            raise ValueError(f"window_utterances must be at least 1, got {window_utterances}")
        self.window_utterances = window_utterances
        self._lock = threading.Lock()  # server pools may finish two utterances of a stream at once
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._sum: np.ndarray | None = None
            self._sum_squares: np.ndarray | None = None
            self._count = 0.0

    @property
    def count(self) -> float:
        """Utterances in the statistics (fractional once older ones fade)."""
        return self._count

    def inputs(self, feature_dim: int) -> dict[str, np.ndarray]:
        """The graph inputs for the next utterance: [1, dim] sums and a [1] count."""
        with self._lock:
            if self._sum is None:
                zeros = np.zeros((1, feature_dim), dtype=np.float32)
                return {
                    "speaker_sum": zeros,
                    "speaker_sum_squares": zeros,
                    "speaker_count": np.zeros(1, dtype=np.float32),
                }
            return {
                "speaker_sum": self._sum[None].astype(np.float32),
                "speaker_sum_squares": self._sum_squares[None].astype(np.float32),
                "speaker_count": np.array([self._count], dtype=np.float32),
            }

    def add(self, features: np.ndarray) -> None:
        """Adds one utterance's features (the model's `features` output)."""
        features = np.asarray(features, dtype=np.float64)
        with self._lock:
            if self._sum is None:
                self._sum = np.zeros_like(features)
                self._sum_squares = np.zeros_like(features)
            if self._count >= self.window_utterances:
                fade = self.window_utterances / (self.window_utterances + 1.0)
                self._sum *= fade
                self._sum_squares *= fade
                self._count *= fade
            self._sum += features
            self._sum_squares += features**2
            self._count += 1.0
