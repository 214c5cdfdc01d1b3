"""One source's streams, whoever schedules them: fronts, latency record and summary.

Three entry points run the same pipeline and differ only in how they schedule it:
`StreamRecognizer` in the caller's thread, `Run` on a capture thread and a worker
loop, the server's `CallSession` on asyncio and the inference pool. Everything
else (the per-stream fronts, what is counted, the latency record, the summary and
the options it echoes) lives here, once, so every entry point reports the same way:

```
StreamSet.fronts[i].process(samples) -> jobs -> Worker.handle -> StreamSet.record -> events
                                                         StreamSet.summary() -> SummaryEvent
```
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from streamser.constants import SAMPLE_RATE_HZ
from streamser.events import (
    DROPPED,
    InputInfo,
    LatencyStats,
    StreamCounts,
    SummaryEvent,
    SummaryOptions,
    UtteranceEvent,
)
from streamser.ood import OodOptions
from streamser.segmenter import SegmenterOptions
from streamser.stream import Job, StreamFront
from streamser.vad import make_vad
from streamser.worker import Worker

LATENCY_WINDOW = 10_000
"""Latency percentiles cover the most recent this-many utterances: memory stays flat."""

MAX_RING_S = 600.0
"""A stream's ring holds at most this much audio (memory is allocated up front)."""

RunStatus = Literal["completed", "stopped", "failed"]


@dataclass(frozen=True)
class RecognizerOptions:
    """Everything about recognising a source except the model itself.

    Attributes:
        segmenter: How frames become utterances, the speech detector included.
        ood: Overrides of the model's OOD calibration.
        ring_s: Seconds of audio each stream's ring holds. A source that can wait
            (a file, a native client) is held back before it would overwrite audio
            still to be recognised; a live one loses its oldest waiting utterance.
        stats_interval_s: A `stats` event every this many seconds of audio; 0 for none.
    """

    segmenter: SegmenterOptions = field(default_factory=SegmenterOptions)
    ood: OodOptions = field(default_factory=OodOptions)
    ring_s: float = 60.0
    stats_interval_s: float = 10.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.stats_interval_s):
            raise ValueError(f"stats_interval_s must be finite, not {self.stats_interval_s}")
        if not np.isfinite(self.ring_s) or self.ring_s > MAX_RING_S:
            raise ValueError(f"ring_s must be at most {MAX_RING_S:g} seconds, not {self.ring_s}")
        needed = (
            self.segmenter.max_span_samples + self.segmenter.reach_back_samples
        ) / SAMPLE_RATE_HZ
        if self.ring_s < needed + 0.1:
            raise ValueError(
                f"ring_s {self.ring_s} is too small for utterances of up to "
                f"{self.segmenter.max_utterance_ms} ms plus pre-roll (needs > {needed:.2f} s)"
            )
        if self.stats_interval_s < 0:
            raise ValueError("stats_interval_s must not be negative")

    @property
    def ring_samples(self) -> int:
        return int(self.ring_s * SAMPLE_RATE_HZ)


DEFAULT_RECOGNIZER_OPTIONS = RecognizerOptions()


class LatencyRecord:
    """Event latencies of recognised utterances, the most recent `LATENCY_WINDOW` of them.

    Dropped utterances are left out: nothing was recognised, so there is no latency
    to speak of, and counting their near-zero times would flatter the percentiles.
    """

    def __init__(self) -> None:
        self._values: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def add(self, event: UtteranceEvent) -> None:
        if event.status != DROPPED:
            self._values.append(event.latency_ms)

    def stats(self) -> LatencyStats:
        if not self._values:
            return LatencyStats(count=0, p50=None, p95=None, max=None)
        values = np.fromiter(self._values, dtype=np.float64)
        p50, p95 = np.percentile(values, [50, 95])
        return LatencyStats(
            count=len(values), p50=float(p50), p95=float(p95), max=float(values.max())
        )


class StreamSet:
    """The streams of one source (a file's channels, a call's agent and customer).

    Args:
        source: The input's name, for the summary and errors.
        names: One stream name per channel, in channel order.
        worker: The shared model and gate.
        options: Segmenter, ring and stats settings.
        input: What kind of input this is, echoed in the summary.
    """

    def __init__(
        self,
        source: str,
        names: Sequence[str],
        worker: Worker,
        options: RecognizerOptions,
        input: InputInfo,
    ) -> None:
        self.source = source
        self.worker = worker
        self.options = options
        self.input = input
        self.fronts = [
            StreamFront(
                index,
                name,
                make_vad(options.segmenter.vad),
                options.segmenter,
                options.ring_samples,
            )
            for index, name in enumerate(names)
        ]
        self.latency = LatencyRecord()
        self.started = time.monotonic()

    def handle(self, job: Job) -> UtteranceEvent:
        """Runs a job through the worker in the calling thread and records its event."""
        return self.record(self.worker.handle(job, self.fronts[job.stream]))

    def record(self, event: UtteranceEvent) -> UtteranceEvent:
        """Notes an event made elsewhere (an inference pool) before it goes out."""
        self.latency.add(event)
        return event

    def counts(self) -> dict[str, StreamCounts]:
        return {front.name: front.snapshot() for front in self.fronts}

    def reset(self) -> None:
        """Every stream back to sample 0; the latency record and the clock start over."""
        for front in self.fronts:
            front.reset()
        self.latency = LatencyRecord()
        self.started = time.monotonic()

    def describe(self) -> SummaryOptions:
        """The options in effect, as the summary echoes them."""
        return SummaryOptions(
            input=self.input,
            segmenter=self.options.segmenter.to_dict(),
            ood=self.worker.gate.describe(),
            ring_s=self.options.ring_s,
            stats_interval_s=self.options.stats_interval_s,
        )

    def summary(
        self, status: RunStatus, overflows: int = 0, error: str | None = None
    ) -> SummaryEvent:
        """The last event of the source: one shape for every entry point."""
        elapsed = time.monotonic() - self.started
        streams = self.counts()
        audio_s = max((c.audio_s for c in streams.values()), default=0.0)
        return SummaryEvent(
            status=status,
            source=self.source,
            streams=streams,
            overflows=overflows,
            elapsed_s=elapsed,
            realtime_factor=elapsed / audio_s if audio_s else None,
            latency_ms=self.latency.stats(),
            model=self.worker.model.describe(),
            options=self.describe(),
            error=error,
        )
