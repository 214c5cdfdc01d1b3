"""What the dashboard shows, as plain data: updated from events, read as snapshots.

No rich and no terminal here, so the dashboard's logic is tested with events
alone. `DashboardState` is mutable and owned by one sink, which serialises
`apply` and `snapshot` with its own lock; a `DashboardSnapshot` is immutable and
can be rendered at leisure in another thread. `streamser plot` replays a JSON
Lines session into the same `TracePoint`s, so the picture and the terminal agree.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamser.events import (
    DROPPED,
    OK,
    ErrorEvent,
    Event,
    StatsEvent,
    SummaryEvent,
    UtteranceEvent,
)
from streamser.meter import SILENT, MeterReading

HISTORY = 400
"""Utterances kept per stream: more than the widest terminal shows."""
LATENCIES = 1000
"""Recent event latencies kept for the footer's percentiles."""


@dataclass(frozen=True)
class TracePoint:
    """One utterance on a trace.

    Attributes:
        seq: Per-stream utterance number.
        start, end: Seconds from the start of the stream.
        status: "ok", "uncertain" or "dropped".
        label: The emotion when ok, else None.
        confidence: Probability of the top class; None when dropped.
        scores: Label -> probability; empty when dropped.
        latency_ms: From the utterance's last frame to its event.
        reason: Why not ok, if not.
    """

    seq: int
    start: float
    end: float
    status: str
    label: str | None = None
    confidence: float | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    latency_ms: float = 0.0
    reason: str | None = None

    @property
    def duration_s(self) -> float:
        return self.end - self.start

    @property
    def top(self) -> str | None:
        """The most probable class, also when the label was withheld."""
        if not self.scores:
            return None
        return max(self.scores, key=lambda name: self.scores[name])

    @classmethod
    def from_event(cls, event: UtteranceEvent) -> TracePoint:
        return cls(
            seq=event.seq or 0,
            start=event.start,
            end=event.end,
            status=event.status,
            label=event.label,
            confidence=event.confidence,
            scores=dict(event.scores),
            latency_ms=event.latency_ms,
            reason=event.reason,
        )

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> TracePoint:
        """From the JSON form of an utterance event."""
        return cls(
            seq=int(record.get("seq") or 0),
            start=float(record["start"]),
            end=float(record["end"]),
            status=str(record["status"]),
            label=record.get("label"),
            confidence=record.get("confidence"),
            scores={str(k): float(v) for k, v in (record.get("scores") or {}).items()},
            latency_ms=float(record.get("latency_ms") or 0.0),
            reason=record.get("reason"),
        )


@dataclass(frozen=True)
class StreamSnapshot:
    """One stream's panel.

    Attributes:
        name: Stream name.
        points: The most recent utterances, oldest first.
        ok, uncertain, dropped: Counts since the start (clearing keeps them).
        meter: The input level and speech state.
    """

    name: str
    points: tuple[TracePoint, ...]
    ok: int
    uncertain: int
    dropped: int
    meter: MeterReading = SILENT

    @property
    def last(self) -> TracePoint | None:
        return self.points[-1] if self.points else None


@dataclass(frozen=True)
class DashboardSnapshot:
    """Everything one frame of the dashboard shows.

    Attributes:
        labels: Classes in model order (a trace row each).
        streams: One panel each, in the source's order.
        source: Name of the input.
        model: Model name and sha256 prefix.
        latency_p50_ms, latency_p95_ms: Over the recent utterances; None before any.
        realtime_factor: Wall time / audio time; None before any audio.
        overflows: Input frames the device lost (dropped frames).
        dropped: Utterances dropped, all streams.
        elapsed_s: Wall-clock seconds since the dashboard started.
        paused: The display is frozen (events still counted).
        finished: The summary's status once the run ended, else None.
        errors: Messages of error events.
    """

    labels: tuple[str, ...]
    streams: tuple[StreamSnapshot, ...]
    source: str = ""
    model: tuple[str, str] = ("", "")
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    realtime_factor: float | None = None
    overflows: int = 0
    dropped: int = 0
    elapsed_s: float = 0.0
    paused: bool = False
    finished: str | None = None
    errors: tuple[str, ...] = ()


class _Stream:
    def __init__(self, name: str, history: int) -> None:
        self.name = name
        self.points: deque[TracePoint] = deque(maxlen=history)
        self.counts = {OK: 0, "uncertain": 0, DROPPED: 0}


class DashboardState:
    """The dashboard's data, updated from events.

    Args:
        labels: The model's classes, in order (more are added as scores show them).
        stream_names: The source's streams, so their panels exist before any event.
        source: Name of the input, for the footer.
        model: Model name and sha256 prefix, for the footer.
        history: Utterances kept per stream.
    """

    def __init__(
        self,
        labels: Iterable[str] = (),
        stream_names: Iterable[str] = (),
        source: str = "",
        model: tuple[str, str] = ("", ""),
        history: int = HISTORY,
    ) -> None:
        self.labels: list[str] = list(labels)
        self.source = source
        self.model = model
        self.history = history
        self.overflows = 0
        self.finished: str | None = None
        self.errors: list[str] = []
        self.audio_s = 0.0
        self._streams: dict[str, _Stream] = {}
        self._latencies: deque[float] = deque(maxlen=LATENCIES)
        self._final: SummaryEvent | None = None
        for name in stream_names:
            self._stream(name)

    def apply(self, event: Event) -> None:
        """Takes one event into account; cheap (it runs in the event consumer's thread)."""
        if isinstance(event, UtteranceEvent):
            self._utterance(event)
        elif isinstance(event, StatsEvent):
            self.overflows = max(self.overflows, event.overflows)
            self.audio_s = max(self.audio_s, event.time)
            if event.model and not self.model[1]:
                self.model = (self.model[0], event.model)
        elif isinstance(event, SummaryEvent):
            self._final = event
            self.finished = event.status
            self.overflows = event.overflows
            self.audio_s = event.totals.audio_s
            self.source = self.source or event.source
            name, sha = event.model.get("name", ""), event.model.get("sha256", "")
            self.model = (self.model[0] or name, self.model[1] or sha[:12])
        elif isinstance(event, ErrorEvent):
            self.errors.append(event.message)

    def clear(self) -> None:
        """Empties the traces; counters and the footer keep counting."""
        for stream in self._streams.values():
            stream.points.clear()

    def snapshot(
        self,
        meters: Mapping[str, MeterReading] | None = None,
        elapsed_s: float = 0.0,
        paused: bool = False,
    ) -> DashboardSnapshot:
        """An immutable copy for rendering, with the latest meter readings."""
        meters = meters or {}
        for name in meters:
            self._stream(name)
        streams = tuple(
            StreamSnapshot(
                name=s.name,
                points=tuple(s.points),
                ok=s.counts[OK],
                uncertain=s.counts["uncertain"],
                dropped=s.counts[DROPPED],
                meter=meters.get(s.name, SILENT),
            )
            for s in self._streams.values()
        )
        audio_s = max([self.audio_s, *(m.audio_s for m in meters.values())])
        p50 = p95 = None
        final = self._final
        if final is not None and final.latency_ms is not None and final.latency_ms.count:
            p50, p95 = final.latency_ms.p50, final.latency_ms.p95
        elif self._latencies:
            p50, p95 = (float(v) for v in np.percentile(list(self._latencies), [50, 95]))
        if final is not None:
            elapsed_s, rtf = final.elapsed_s, final.realtime_factor
        else:
            rtf = elapsed_s / audio_s if audio_s > 0 else None
        return DashboardSnapshot(
            labels=tuple(self.labels),
            streams=streams,
            source=self.source,
            model=self.model,
            latency_p50_ms=p50,
            latency_p95_ms=p95,
            realtime_factor=rtf,
            overflows=self.overflows,
            dropped=sum(s.dropped for s in streams),
            elapsed_s=elapsed_s,
            paused=paused,
            finished=self.finished,
            errors=tuple(self.errors),
        )

    def _stream(self, name: str) -> _Stream:
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = _Stream(name, self.history)
        return stream

    def _utterance(self, event: UtteranceEvent) -> None:
        stream = self._stream(event.stream or "ch0")
        point = TracePoint.from_event(event)
        stream.points.append(point)
        stream.counts[point.status] = stream.counts.get(point.status, 0) + 1
        for label in point.scores:
            if label not in self.labels:
                self.labels.append(label)
        if point.status != DROPPED:
            self._latencies.append(point.latency_ms)
        self.audio_s = max(self.audio_s, point.end)
