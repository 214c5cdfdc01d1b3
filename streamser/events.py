"""What the runtime emits: one typed event per utterance, plus stats, summary and errors.

The JSON form is a contract: one object per line, `schema`
versioned, field names stable (keys may be added, so a reader ignores keys it does not
know; removing or changing one bumps the version). Every event
type serialises all of its fields, with null where a value does not apply, so a
reader can rely on a key being present.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from streamser.voicing import unvoiced

EVENT_SCHEMA = "streamser.event/1"

OK = "ok"
UNCERTAIN = "uncertain"
DROPPED = "dropped"
STATUSES = (OK, UNCERTAIN, DROPPED)

REASON_OOD = "ood"
"""Status `uncertain`: the OOD gate rejected the utterance; label withheld, scores kept."""
REASON_OVERRUN = "overrun"
"""Status `dropped`: the ring overwrote the utterance before the worker reached it."""
REASON_ERROR = "error"
"""Status `dropped`: the model failed on this utterance (the failure is logged); the
stream goes on."""


@dataclass(frozen=True)
class OodReport:
    """Attributes:
    method: Score method.
    score: The utterance's score (higher = more in-distribution).
    threshold: The score below which an utterance is `uncertain`.
    voiced_share: The share of the utterance's loud frames that are voiced (None: not
        measured).
    min_voiced_share: Below it an utterance is `uncertain` as not speech (0: no test).
    """

    method: str
    score: float
    threshold: float
    voiced_share: float | None = None
    min_voiced_share: float = 0.0

    @property
    def not_voiced(self) -> bool:
        """The utterance was turned away as not speech, not for its score."""
        return unvoiced(self.voiced_share, self.min_voiced_share)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "score": _round(self.score, 4),
            "threshold": _round(self.threshold, 4),
            "voiced_share": None if self.voiced_share is None else _round(self.voiced_share, 3),
            "min_voiced_share": self.min_voiced_share,
        }


@dataclass(frozen=True)
class StreamCounts:
    """One stream's counters at one moment; `segmented == ok + uncertain + dropped` once drained.

    Attributes:
        audio_s: Seconds of canonical audio the stream has received.
        segmented: Utterances the segmenter handed to the worker.
        ok: Utterances with a label.
        uncertain: Utterances the OOD gate rejected.
        dropped: Utterances lost to an overrun or a model failure.
        too_short: Speech bursts under the minimum speech length, not segmented.
    """

    audio_s: float = 0.0
    segmented: int = 0
    ok: int = 0
    uncertain: int = 0
    dropped: int = 0
    too_short: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "audio_s": _round(self.audio_s, 3),
            "segmented": self.segmented,
            "ok": self.ok,
            "uncertain": self.uncertain,
            "dropped": self.dropped,
            "too_short": self.too_short,
        }


@dataclass(frozen=True)
class LatencyStats:
    """Milliseconds from an utterance's last frame arriving to its event.

    Attributes:
        count: Utterances measured (the most recent ones, see `streamser.stream`).
        p50, p95, max: Percentiles and maximum in milliseconds; None when count is 0.
    """

    count: int
    p50: float | None
    p95: float | None
    max: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "p50": _round(self.p50, 2),
            "p95": _round(self.p95, 2),
            "max": _round(self.max, 2),
        }


@dataclass(frozen=True)
class InputInfo:
    """What kind of input a summary describes.

    Attributes:
        kind: "file", "microphone", "push" (the Python API), or the server
            protocol: "native", "twilio", "audiohook".
        live: The input cannot wait for the worker, so an overrun drops an
            utterance; otherwise the input is held back and nothing is dropped.
        format: The input's own audio format before conversion, when known.
    """

    kind: str
    live: bool
    format: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "live": self.live, "format": self.format}


@dataclass(frozen=True)
class SummaryOptions:
    """The options a run used, echoed in its summary.

    Attributes:
        input: The kind of input.
        segmenter: The segmenter's and speech detector's settings.
        ood: The gate's method, threshold and calibration TPR.
        ring_s: Seconds of audio each stream's ring holds.
        stats_interval_s: Seconds of audio between `stats` events; 0 for none.
    """

    input: InputInfo
    segmenter: dict[str, Any]
    ood: dict[str, Any]
    ring_s: float
    stats_interval_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input.to_dict(),
            "segmenter": self.segmenter,
            "ood": self.ood,
            "ring_s": self.ring_s,
            "stats_interval_s": self.stats_interval_s,
        }


@dataclass(frozen=True, kw_only=True)
class Event:
    """Fields every event carries.

    Attributes:
        stream: Stream name for per-stream events; None for source-wide ones.
        seq: Per-stream utterance number (from 0) for utterances; running number
            for stats; None otherwise.
    """

    type: ClassVar[str] = ""
    stream: str | None = None
    seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"schema": EVENT_SCHEMA, "type": self.type, "stream": self.stream, "seq": self.seq}

    def to_json(self) -> str:
        """One line of JSON, without the newline."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True, kw_only=True)
class UtteranceEvent(Event):
    """One segmented utterance: exactly one per utterance, in order, per stream.

    Attributes:
        start, end: Seconds from the start of the stream.
        status: "ok", "uncertain" or "dropped".
        reason: Why not ok ("ood", "overrun", "error"); None when ok.
        label: The emotion when ok; None otherwise.
        confidence: Probability of the top class; None when dropped.
        scores: Label -> probability; empty when dropped.
        ood: The OOD decision; None when dropped.
        latency_ms: From the utterance's last frame arriving to this event.
        model: sha256 prefix of the model file.
    """

    type: ClassVar[str] = "utterance"
    start: float
    end: float
    status: Literal["ok", "uncertain", "dropped"]
    reason: str | None = None
    label: str | None = None
    confidence: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    ood: OodReport | None = None
    latency_ms: float = 0.0
    model: str = ""

    def __post_init__(self) -> None:
        assert self.status in STATUSES, self.status
        assert (self.label is not None) == (self.status == OK), (self.status, self.label)

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "start": _round(self.start, 3),
            "end": _round(self.end, 3),
            "status": self.status,
            "reason": self.reason,
            "label": self.label,
            "confidence": _round(self.confidence, 4),
            "scores": {name: _round(p, 4) for name, p in self.scores.items()},
            "ood": None if self.ood is None else self.ood.to_dict(),
            "latency_ms": _round(self.latency_ms, 2),
            "model": self.model,
        }


@dataclass(frozen=True, kw_only=True)
class StatsEvent(Event):
    """Periodic counters, emitted every `stats_interval_s` of audio.

    Attributes:
        time: Seconds of audio into the source when the counters were taken.
        streams: Stream name -> counters.
        overflows: Input overflows the source reported so far.
        queue_depth: Utterances waiting for the worker.
        latency_ms: Event latency so far.
        model: sha256 prefix of the model file.
    """

    type: ClassVar[str] = "stats"
    time: float
    streams: dict[str, StreamCounts]
    overflows: int = 0
    queue_depth: int = 0
    latency_ms: LatencyStats | None = None
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "time": _round(self.time, 3),
            "streams": {name: c.to_dict() for name, c in self.streams.items()},
            "overflows": self.overflows,
            "queue_depth": self.queue_depth,
            "latency_ms": None if self.latency_ms is None else self.latency_ms.to_dict(),
            "model": self.model,
        }


@dataclass(frozen=True, kw_only=True)
class SummaryEvent(Event):
    """The last event of a run: counts, timing and the options that produced them.

    Attributes:
        status: "completed" (end of input), "stopped" (asked to stop) or "failed".
        source: Name of the input.
        streams: Stream name -> final counters.
        overflows: Input overflows over the run.
        elapsed_s: Wall-clock seconds of the run.
        realtime_factor: elapsed_s / audio seconds (below 1 is faster than real time).
        latency_ms: Event latency over the run.
        model: Model name, sha256 prefix and path.
        options: The options in effect, echoed for the record.
        error: The failure's message when status is "failed".
    """

    type: ClassVar[str] = "summary"
    status: Literal["completed", "stopped", "failed"]
    source: str
    streams: dict[str, StreamCounts]
    overflows: int = 0
    elapsed_s: float = 0.0
    realtime_factor: float | None = None
    latency_ms: LatencyStats | None = None
    model: dict[str, str] = field(default_factory=dict)
    options: SummaryOptions | None = None
    error: str | None = None

    @property
    def totals(self) -> StreamCounts:
        counts = list(self.streams.values())
        return StreamCounts(
            audio_s=max((c.audio_s for c in counts), default=0.0),
            segmented=sum(c.segmented for c in counts),
            ok=sum(c.ok for c in counts),
            uncertain=sum(c.uncertain for c in counts),
            dropped=sum(c.dropped for c in counts),
            too_short=sum(c.too_short for c in counts),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "status": self.status,
            "source": self.source,
            "streams": {name: c.to_dict() for name, c in self.streams.items()},
            "totals": self.totals.to_dict(),
            "overflows": self.overflows,
            "elapsed_s": _round(self.elapsed_s, 3),
            "realtime_factor": _round(self.realtime_factor, 5),
            "latency_ms": None if self.latency_ms is None else self.latency_ms.to_dict(),
            "model": dict(self.model),
            "options": None if self.options is None else self.options.to_dict(),
            "error": self.error,
        }


@dataclass(frozen=True, kw_only=True)
class ErrorEvent(Event):
    """A failure that ended the run (a device that disappeared, input that broke mid-stream).

    Attributes:
        message: One line naming the input and the problem.
        fatal: True when the run ended because of it.
    """

    type: ClassVar[str] = "error"
    message: str
    fatal: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "message": self.message, "fatal": self.fatal}


def _round(value: float | None, digits: int) -> float | None:
    if value is None:
        return None
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        return None  # JSON has no NaN or infinity
    return round(value, digits)
