"""Where events go: JSON Lines, a line of text per utterance, a callback.

A sink only subscribes: it receives finished events and never reaches into the
pipeline, so the terminal UI and the WebSocket server plug in here
the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TextIO

from streamser.events import (
    DROPPED,
    OK,
    ErrorEvent,
    Event,
    StatsEvent,
    SummaryEvent,
    UtteranceEvent,
)


class EventSink(Protocol):
    def emit(self, event: Event) -> None:
        """Receives one event, in order."""

    def close(self) -> None:
        """No more events."""


class JsonlSink:
    """One JSON object per line, flushed per event so pipes see it at once."""

    def __init__(self, stream: TextIO, close_stream: bool = False) -> None:
        self._stream = stream
        self._close_stream = close_stream

    def emit(self, event: Event) -> None:
        self._stream.write(event.to_json() + "\n")
        self._stream.flush()

    def close(self) -> None:
        self._stream.flush()
        if self._close_stream:
            self._stream.close()


class TextSink:
    """A line per utterance and one for the summary, for people reading a terminal."""

    def __init__(self, stream: TextIO, close_stream: bool = False) -> None:
        self._stream = stream
        self._close_stream = close_stream

    def emit(self, event: Event) -> None:
        line = format_text(event)
        if line is not None:
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        self._stream.flush()
        if self._close_stream:
            self._stream.close()


class FanOut:
    """Several sinks as one."""

    def __init__(self, sinks: Iterable[EventSink]) -> None:
        self.sinks = list(sinks)

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.emit(event)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def format_text(event: Event) -> str | None:
    """The human-readable line for an event; None for events shown only in JSON (stats)."""
    if isinstance(event, UtteranceEvent):
        return _utterance_line(event)
    if isinstance(event, SummaryEvent):
        return _summary_line(event)
    if isinstance(event, ErrorEvent):
        return f"error: {event.message}"
    if isinstance(event, StatsEvent):
        return None
    return None


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes):02d}:{rest:05.2f}"


def _utterance_line(event: UtteranceEvent) -> str:
    head = f"{event.stream} {_clock(event.start)}-{_clock(event.end)}"
    if event.status == DROPPED:
        return f"{head}  {'-':<9} dropped ({event.reason})"
    ranked = sorted(event.scores.items(), key=lambda item: -item[1])
    scores = " ".join(f"{label} {p:.2f}" for label, p in ranked)
    latency = f"{event.latency_ms:.0f} ms"
    if event.status == OK:
        return f"{head}  {event.label:<9} {event.confidence:.2f}  [{scores}]  {latency}"
    ood = event.ood
    if ood is None:
        why = event.reason
    elif ood.not_voiced:
        why = f"not voiced: {ood.voiced_share:.2f} < {ood.min_voiced_share:.2f}"
    else:
        why = f"{ood.method} {ood.score:.2f} < {ood.threshold:.2f}"
    return f"{head}  {'?':<9} uncertain ({why})  [{scores}]  {latency}"


def _summary_line(event: SummaryEvent) -> str:
    t = event.totals
    latency = event.latency_ms
    timing = ""
    if latency is not None and latency.count:
        timing = f", latency p50 {latency.p50:.0f} ms p95 {latency.p95:.0f} ms"
    overflows = f", {event.overflows} input overflows" if event.overflows else ""
    return (
        f"summary ({event.status}): {t.segmented} utterances: {t.ok} ok, {t.uncertain} uncertain, "
        f"{t.dropped} dropped ({t.too_short} too short) in {t.audio_s:.1f} s of audio"
        f"{timing}{overflows}"
    )
