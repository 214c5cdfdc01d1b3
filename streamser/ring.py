"""One stream's fixed-size int16 ring, addressed by absolute sample index.

The capture thread is the only writer; the worker reads utterance spans by their
absolute indices. Nothing grows: a span older than the ring's capacity has been
overwritten and `read` says so, which the worker turns into a `dropped` event.

Sources that can wait (files) use claims for backpressure instead: each span
handed to the worker is claimed until the worker releases it, and a waiting
`write` blocks rather than overwrite a claimed sample. Live sources never wait.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

WAIT_SLICE_S = 0.1
"""A waiting writer re-checks its stop flag this often."""


class RingClosed(Exception):
    """A waiting write gave up because the run is stopping."""


class RingBuffer:
    """Attributes:
    capacity: Samples the ring holds.
    written: Samples written since the start: the absolute index of the next one.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("ring capacity must be positive")
        self.capacity = capacity
        self._data = np.zeros(capacity, dtype=np.int16)
        self._cond = threading.Condition()
        self._claims: deque[int] = deque()
        self.written = 0

    def write(
        self, samples: np.ndarray, wait: bool = False, stop: threading.Event | None = None
    ) -> None:
        """Appends samples (at most `capacity` at a time).

        Args:
            samples: int16 samples.
            wait: Block while the write would overwrite a claimed span (backpressure)
                instead of overwriting it.
            stop: While waiting, give up when this is set.

        Raises:
            RingClosed: `stop` was set while waiting.
        """
        n = len(samples)
        if n > self.capacity:
            raise ValueError(f"a write of {n} samples exceeds the ring's {self.capacity}")
        with self._cond:
            if wait:
                while self._claims and self.written + n - self.capacity > self._claims[0]:
                    if stop is not None and stop.is_set():
                        raise RingClosed
                    self._cond.wait(WAIT_SLICE_S)
            position = self.written % self.capacity
            head = min(n, self.capacity - position)
            self._data[position : position + head] = samples[:head]
            self._data[: n - head] = samples[head:]
            self.written += n

    def read(self, start: int, end: int) -> np.ndarray | None:
        """A copy of samples [start, end), or None when part of them was overwritten."""
        if not 0 <= start <= end:
            raise ValueError(f"bad span [{start}, {end})")
        with self._cond:
            if end > self.written:
                raise ValueError(f"span end {end} is beyond the {self.written} samples written")
            if start < self.written - self.capacity or end - start > self.capacity:
                return None
            first = start % self.capacity
            n = end - start
            head = min(n, self.capacity - first)
            out = np.empty(n, dtype=np.int16)
            out[:head] = self._data[first : first + head]
            out[head:] = self._data[: n - head]
            return out

    def room(self) -> int:
        """Samples a waiting `write` could append now without blocking."""
        with self._cond:
            if not self._claims:
                return self.capacity
            return self.capacity - (self.written - self._claims[0])

    def claim(self, start: int) -> None:
        """Marks the span starting at `start` as still needed (spans are claimed in order)."""
        with self._cond:
            assert not self._claims or start >= self._claims[-1], "claims must be in order"
            self._claims.append(start)

    def release(self) -> None:
        """The oldest claimed span is done with."""
        with self._cond:
            self._claims.popleft()
            self._cond.notify_all()

    def reset(self) -> None:
        with self._cond:
            self.written = 0
            self._claims.clear()
            self._cond.notify_all()
