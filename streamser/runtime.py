"""One run of a source through the recognizer: the capture thread and the worker loop.

```
capture thread:  source.blocks() -> StreamFront.process (ring + segmenter) -> JobQueue
worker loop:     JobQueue -> Worker.handle (model + OOD gate) -> events, in order
```

The worker loop runs in the thread that iterates `Run.events()`, so a callback
or a sink sees events in the consumer's own thread and a slow consumer slows the
worker, exactly like a slow model would: a file waits, a live source drops.

Shutdown: `stop()` sets an event; the capture thread notices between
blocks, flushes the open utterances and puts the end sentinel; the worker drains
the queue and emits the summary. A file source notices a stop even while its pipe
is idle (`streamser.audio.pipe`); a source stuck in a read it cannot leave is given
`STOP_GRACE_S`, then the worker flushes the streams itself under the lock the
capture thread holds while it touches them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

from streamser.constants import SAMPLE_RATE_HZ
from streamser.errors import StreamserError
from streamser.events import ErrorEvent, Event, StatsEvent, SummaryEvent
from streamser.meter import MeterReading
from streamser.ring import RingClosed
from streamser.sources.base import Source
from streamser.stream import Job, JobQueue, queue_bound
from streamser.streams import RecognizerOptions, StreamSet
from streamser.worker import Worker

log = logging.getLogger(__name__)

STOP_GRACE_S = 1.0
"""How long the worker waits for a stopped capture thread before flushing itself."""
POLL_S = 0.05
JOIN_TIMEOUT_S = 5.0


class _End:
    """The capture thread is done; nothing follows."""


class _StatsMark:
    """A point in the audio: the capture side's counters, taken when it was reached.

    The worker adds its own counters when the mark comes out of the queue, after
    every job queued before it, so a stats event describes one consistent moment.
    """

    def __init__(self, time_s: float, capture: dict[int, tuple[int, int, int]]) -> None:
        self.time_s = time_s
        self.capture = capture


class Run:
    """A source being recognised. Create it with `Recognizer.start(source)`.

    Iterate `events()` once; it ends with a `SummaryEvent`. Use as a context manager
    so the capture thread is stopped and joined however the iteration ends.

    Args:
        source: The input; its capture thread starts at once.
        worker: The shared model and gate.
        options: Segmenter, ring and stats settings.

    Attributes:
        error: The failure that ended the run early, if any.
        summary: The final event, once `events()` is exhausted.
    """

    def __init__(self, source: Source, worker: Worker, options: RecognizerOptions) -> None:
        self.source = source
        self.error: BaseException | None = None
        self.summary: SummaryEvent | None = None
        self._streams = StreamSet(
            source.name, source.stream_names, worker, options, source.describe()
        )
        self._fronts = self._streams.fronts
        self._queue = JobQueue(queue_bound(options.segmenter, options.ring_samples))
        self._stats_every = int(options.stats_interval_s * SAMPLE_RATE_HZ)
        self._stats_seq = 0
        self._stop = threading.Event()
        self._stop_requested_at: float | None = None
        self._front_lock = threading.Lock()
        self._closed = False
        self._forced = False
        self._joined = False
        self._thread = threading.Thread(target=self._capture, name="streamser-capture", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ends the run soon: open utterances are closed, queued ones still get events.

        Safe from any thread and from a signal handler.
        """
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
        self._stop.set()
        self.source.stop()

    def events(self) -> Iterator[Event]:
        """Lazy iterator: utterance and stats events in order, then the summary."""
        while True:
            item = self._queue.get(timeout=POLL_S)
            if item is None:
                self._maybe_force_close()
                continue
            if isinstance(item, _End):
                break
            if isinstance(item, _StatsMark):
                yield self._stats(item)
            else:
                assert isinstance(item, Job)
                yield self._streams.handle(item)
        if self.error is not None:
            yield ErrorEvent(message=_message(self.error))
        self.summary = self._summary()
        yield self.summary

    def meters(self) -> dict[str, MeterReading]:
        """Stream name -> its latest input level and speech state; never blocks.

        For live displays, which poll it at their own rate (`streamser.meter`).
        """
        return {front.name: front.meter.read() for front in self._fronts}

    @property
    def alive(self) -> bool:
        """The capture thread is still running."""
        return self._thread.is_alive()

    def close(self) -> None:
        """Stops the capture thread and waits for it (bounded); idempotent."""
        self.stop()
        if self._joined:
            return
        self._joined = True
        # A thread already found stuck in a read will not end now: do not wait long.
        self._thread.join(0.1 if self._forced else JOIN_TIMEOUT_S)
        if self._thread.is_alive():
            log.warning("capture thread of %s did not end; abandoning it", self.source.name)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- capture thread -------------------------------------------------

    def _capture(self) -> None:
        wait = not self.source.live
        next_stats = self._stats_every
        try:
            for blocks in self.source.blocks():
                arrived = time.monotonic()
                with self._front_lock:
                    if self._closed:
                        return
                    for front, samples in zip(self._fronts, blocks, strict=True):
                        for job in front.process(samples, arrived, wait=wait, stop=self._stop):
                            self._queue.put(job)
                    position = self._fronts[0].counters.samples
                    while self._stats_every and position >= next_stats:
                        self._queue.put(self._mark(next_stats))
                        next_stats += self._stats_every
                if self._stop.is_set():
                    break
        except RingClosed:
            pass  # stopping while waiting for the worker
        except StreamserError as error:
            self.error = error
        except Exception as error:
            log.exception("capture of %s failed", self.source.name)
            self.error = error
        finally:
            self._close_fronts()

    def _mark(self, position: int) -> _StatsMark:
        capture = {
            front.index: (
                front.counters.samples,
                front.counters.segmented,
                front.segmenter.too_short,
            )
            for front in self._fronts
        }
        return _StatsMark(position / SAMPLE_RATE_HZ, capture)

    def _close_fronts(self) -> None:
        """Flushes every stream and ends the queue, once, from whichever thread gets here first."""
        with self._front_lock:
            if self._closed:
                return
            self._closed = True
            arrived = time.monotonic()
            for front in self._fronts:
                for job in front.flush(arrived):
                    self._queue.put(job)
            self._queue.put(_End())

    # --- worker side ----------------------------------------------------

    def _maybe_force_close(self) -> None:
        requested = self._stop_requested_at
        if requested is not None and time.monotonic() - requested > STOP_GRACE_S:
            if not self._closed:
                log.info("capture of %s is stuck in a read; closing its streams", self.source.name)
                self._forced = True
            self._close_fronts()

    def _stats(self, mark: _StatsMark) -> StatsEvent:
        streams = {}
        for front in self._fronts:
            samples, segmented, too_short = mark.capture[front.index]
            now = front.snapshot()
            streams[front.name] = replace(
                now, audio_s=samples / SAMPLE_RATE_HZ, segmented=segmented, too_short=too_short
            )
        event = StatsEvent(
            seq=self._stats_seq,
            time=mark.time_s,
            streams=streams,
            overflows=self.source.overflows,
            queue_depth=len(self._queue),
            latency_ms=self._streams.latency.stats(),
            model=self._streams.worker.model.short_sha,
        )
        self._stats_seq += 1
        return event

    def _summary(self) -> SummaryEvent:
        if self.error is not None:
            status = "failed"
        elif self._stop.is_set():
            status = "stopped"
        else:
            status = "completed"
        return self._streams.summary(
            status,
            overflows=self.source.overflows,
            error=None if self.error is None else _message(self.error),
        )


def _message(error: BaseException) -> str:
    if isinstance(error, StreamserError):
        return str(error)
    return f"{type(error).__name__}: {error}"
