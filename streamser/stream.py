"""The capture side of one stream: samples -> frames -> ring + segmenter -> jobs.

Everything per stream lives here and holds no model: the frame
assembler, the ring, the segmenter with its detector, and the counters. The
worker side (`streamser.worker`) turns the jobs into events.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from streamser.constants import FRAME_SAMPLES, SAMPLE_RATE_HZ
from streamser.events import StreamCounts
from streamser.meter import LevelMeter
from streamser.ring import RingBuffer
from streamser.segmenter import Segmenter, SegmenterOptions, Span
from streamser.speaker import SpeakerStatistics
from streamser.vad import Vad


@dataclass(frozen=True)
class Job:
    """One utterance on its way to the worker.

    Attributes:
        stream: Index of the stream in its run.
        seq: Per-stream utterance number, from 0.
        span: Where the audio is in the stream's ring.
        arrived: `time.monotonic()` when the span's last frame arrived.
        dropped: Set when the utterance was given up before the worker reached it.
        skipped: Samples of audio the source left out before the span (`StreamFront.skip`):
            the span's time on the stream's clock is its ring position plus this.
    """

    stream: int
    seq: int
    span: Span
    arrived: float
    dropped: str | None = None
    skipped: int = 0


METER_SAMPLES = 1600
"""The level meter reads the newest 100 ms of a block."""
_NO_SAMPLES = np.zeros(0, dtype=np.int16)
_NO_SAMPLES.flags.writeable = False


class StreamCounters:
    """Mutable counters of one stream, written by the capture thread and the worker."""

    def __init__(self) -> None:
        self.samples = 0
        self.segmented = 0
        self.ok = 0
        self.uncertain = 0
        self.dropped = 0

    def snapshot(self, too_short: int) -> StreamCounts:
        return StreamCounts(
            audio_s=self.samples / SAMPLE_RATE_HZ,
            segmented=self.segmented,
            ok=self.ok,
            uncertain=self.uncertain,
            dropped=self.dropped,
            too_short=too_short,
        )


class StreamFront:
    """Assembles 30 ms frames from blocks of any size and segments them.

    Args:
        index: Position of the stream in its run (goes into jobs).
        name: Stream name for events.
        vad: This stream's own detector.
        options: Segmenter settings.
        ring_samples: Ring capacity; at least the longest span plus the pre-roll.
    """

    def __init__(
        self, index: int, name: str, vad: Vad, options: SegmenterOptions, ring_samples: int
    ) -> None:
        needed = options.max_span_samples + options.reach_back_samples + FRAME_SAMPLES
        if ring_samples < needed:
            raise ValueError(
                f"a ring of {ring_samples / SAMPLE_RATE_HZ:.2f} s cannot hold the longest "
                f"utterance plus pre-roll ({needed / SAMPLE_RATE_HZ:.2f} s)"
            )
        self.index = index
        self.name = name
        self.segmenter = Segmenter(vad, options)
        self.ring = RingBuffer(ring_samples)
        self.counters = StreamCounters()
        self.meter = LevelMeter()
        self.speaker = SpeakerStatistics()  # read by speaker-normalised models only
        self.skipped = 0
        self._pending = _NO_SAMPLES
        slack = ring_samples - options.max_span_samples - options.reach_back_samples
        self._chunk_samples = max(FRAME_SAMPLES, slack - slack % FRAME_SAMPLES)

    def process(
        self,
        samples: np.ndarray,
        arrived: float,
        wait: bool = False,
        stop: threading.Event | None = None,
    ) -> list[Job]:
        """Canonical int16 samples (any count) -> jobs for the spans they closed.

        Args:
            samples: The next samples of the stream.
            arrived: When they arrived (`time.monotonic()`).
            wait: Block rather than overwrite audio the worker still needs.
            stop: Gives up a wait when set (raises `RingClosed`).
        """
        samples = np.asarray(samples, dtype=np.int16)
        self.counters.samples += len(samples)
        if len(self._pending):
            samples = np.concatenate([self._pending, samples])
        whole = len(samples) - len(samples) % FRAME_SAMPLES
        self._pending = samples[whole:].copy() if whole < len(samples) else _NO_SAMPLES
        jobs: list[Job] = []
        # Whole frames go to the ring and the segmenter a chunk at a time: one ring
        # write and one detector call per chunk, not per frame. A chunk is at most the
        # ring's slack beyond the longest span and its reach-back, so a span closed
        # inside a chunk is still whole in the ring when it is claimed.
        for offset in range(0, whole, self._chunk_samples):
            chunk = samples[offset : min(offset + self._chunk_samples, whole)]
            self.ring.write(chunk, wait=wait, stop=stop)
            for span in self.segmenter.process_frames(chunk):
                jobs.append(self._job(span, arrived))
        recent = samples[max(0, whole - METER_SAMPLES) : whole]
        self.meter.update(recent, self.segmenter.triggered, self.counters.samples, arrived)
        return jobs

    def flush(self, arrived: float) -> list[Job]:
        """End of input: closes the open utterance. A last partial frame (under
        30 ms) is too short to judge and is left out of every span."""
        self._pending = _NO_SAMPLES
        return [self._job(span, arrived) for span in self.segmenter.flush()]

    def skip(self, samples: int, arrived: float) -> list[Job]:
        """Audio the source left out (a paused or discarded stretch of a call): closes
        the open utterance and moves the stream's clock on without writing or
        segmenting anything, so a gap of any length costs nothing."""
        self._pending = _NO_SAMPLES
        jobs = [self._job(span, arrived) for span in self.segmenter.interrupt()]
        self.counters.samples += samples
        self.skipped += samples
        return jobs

    def reset(self) -> None:
        self.skipped = 0
        self.segmenter.reset()
        self.ring.reset()
        self.counters = StreamCounters()
        self.meter.reset()
        self.speaker.reset()
        self._pending = _NO_SAMPLES

    def snapshot(self) -> StreamCounts:
        return self.counters.snapshot(self.segmenter.too_short)

    def _job(self, span: Span, arrived: float) -> Job:
        seq = self.counters.segmented
        self.counters.segmented += 1
        self.ring.claim(span.start)
        return Job(self.index, seq, span, arrived, skipped=self.skipped)


class JobQueue:
    """FIFO from capture threads to the worker: jobs, stats marks and the end sentinel.

    Bounded by what it protects, the audio: a stream may have at most
    `per_stream` jobs waiting. A file source never reaches that (its ring writes
    wait for the worker, so claimed spans fit in the ring). A live source cannot
    wait: past the bound, its oldest waiting job becomes a `dropped` record, which
    the worker clears in microseconds. The bound is set above the number of
    shortest spans that fit in the ring, so that job's audio has already been
    overwritten: nothing that could still be recognised is given up.
    """

    def __init__(self, per_stream: int) -> None:
        self.per_stream = per_stream
        self._items: deque[object] = deque()
        self._waiting: dict[int, int] = {}
        self._cond = threading.Condition()

    def put(self, item: object) -> None:
        """Never blocks."""
        with self._cond:
            self._items.append(item)
            if isinstance(item, Job) and item.dropped is None:
                waiting = self._waiting.get(item.stream, 0) + 1
                self._waiting[item.stream] = waiting
                if waiting > self.per_stream:
                    self._drop_oldest(item.stream)
            self._cond.notify()

    def get(self, timeout: float) -> object | None:
        """The next item, or None after `timeout` seconds."""
        with self._cond:
            if not self._items and not self._cond.wait_for(lambda: self._items, timeout):
                return None
            item = self._items.popleft()
            if isinstance(item, Job) and item.dropped is None:
                self._waiting[item.stream] -= 1
            return item

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def _drop_oldest(self, stream: int) -> None:
        for position, item in enumerate(self._items):
            if isinstance(item, Job) and item.stream == stream and item.dropped is None:
                self._items[position] = Job(
                    item.stream, item.seq, item.span, item.arrived, dropped="overrun"
                )
                self._waiting[stream] -= 1
                return


def queue_bound(options: SegmenterOptions, ring_samples: int) -> int:
    """Per-stream job bound: more than the shortest spans that fit in the ring."""
    return ring_samples // options.min_span_samples + 2
