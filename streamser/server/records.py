"""What travels on the event bus: one record per call event, its JSON envelope for
subscribers and webhooks, its fields in Redis, its position, and the filters of
`/v1/events` (docs/PROTOCOL.md, "Subscriptions").

A record is made once, where the call runs, and never parsed again on its way:
the event's JSON line is kept as text and spliced into the envelope, and the
fields a filter needs (type, stream, status, label) travel beside it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

from streamser.events import Event, StreamCounts, SummaryEvent, UtteranceEvent

BUS_SCHEMA = "streamser.bus/1"
CALLS_SCHEMA = "streamser.calls/1"
STARTED = "started"
"""The record a call begins with: its `CallInfo`."""
RECORD_TYPES = (STARTED, "utterance", "summary", "error")


@dataclass(frozen=True)
class CallInfo:
    """A call as `GET /v1/calls` lists it.

    Attributes:
        call_id: The platform's id (native stream id, Twilio callSid, AudioHook conversationId).
        protocol: "native", "twilio" or "audiohook".
        started: Unix time the call opened.
        streams: Stream names in channel order.
        instance: The server process that holds the call.
        counts: Stream name -> counters so far.
    """

    call_id: str
    protocol: str
    started: float
    streams: tuple[str, ...]
    instance: str
    counts: dict[str, StreamCounts] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "protocol": self.protocol,
            "started": iso_time(self.started),
            "streams": list(self.streams),
            "instance": self.instance,
            "counts": {name: c.to_dict() for name, c in self.counts.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallInfo:
        return cls(
            call_id=str(data["call_id"]),
            protocol=str(data["protocol"]),
            started=datetime.fromisoformat(data["started"]).timestamp(),
            streams=tuple(data["streams"]),
            instance=str(data["instance"]),
            counts={name: StreamCounts(**c) for name, c in data.get("counts", {}).items()},
        )


def iso_time(unix_s: float) -> str:
    """Unix time as ISO 8601 in UTC, to the millisecond."""
    return datetime.fromtimestamp(unix_s, timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class BusRecord:
    """One thing a call said, on its way to subscribers, webhooks and Redis.

    Attributes:
        call_id: The call it belongs to.
        protocol: The call's protocol.
        type: "started", or the event's type ("utterance", "summary", "error").
        data: JSON text: the `CallInfo` of a started record, else the event's line.
        instance: The server process that holds the call.
        stream: The event's stream (utterances), for filters.
        status: The utterance's status, for filters.
        label: The utterance's label, for filters.
        published: Unix time the call published it (to measure the bus's delay).
        id: Position on the bus, `<ms>-<n>` as Redis writes them and in the
            order of publication; "" until the broker has placed the record.
    """

    call_id: str
    protocol: str
    type: str
    data: str
    instance: str
    stream: str | None = None
    status: str | None = None
    label: str | None = None
    published: float = 0.0
    id: str = ""

    @classmethod
    def started(cls, info: CallInfo) -> BusRecord:
        data = json.dumps(info.to_dict(), separators=(",", ":"))
        return cls(info.call_id, info.protocol, STARTED, data, info.instance, published=time.time())

    @classmethod
    def of_event(cls, call_id: str, protocol: str, instance: str, event: Event) -> BusRecord:
        utterance = event if isinstance(event, UtteranceEvent) else None
        return cls(
            call_id,
            protocol,
            event.type,
            event.to_json(),
            instance,
            stream=event.stream,
            status=None if utterance is None else utterance.status,
            label=None if utterance is None else utterance.label,
            published=time.time(),
        )

    @property
    def final(self) -> bool:
        """The call's summary: its last record."""
        return self.type == SummaryEvent.type

    def placed(self, record_id: str) -> BusRecord:
        return replace(self, id=record_id)

    def envelope(self, placed: bool = True) -> str:
        """The record as subscribers (and, unplaced, webhooks) receive it: one JSON object."""
        head = {
            "schema": BUS_SCHEMA,
            "id": self.id if placed and self.id else None,
            "call_id": self.call_id,
            "protocol": self.protocol,
            "instance": self.instance,
            "type": self.type,
        }
        key = "call" if self.type == STARTED else "event"
        text = json.dumps(head, separators=(",", ":"))
        return f'{text[:-1]},"{key}":{self.data}}}'

    def fields(self) -> dict[str, str]:
        """The record as a Redis stream entry (empty strings for absent values)."""
        return {
            "c": self.call_id,
            "p": self.protocol,
            "t": self.type,
            "d": self.data,
            "i": self.instance,
            "s": self.stream or "",
            "st": self.status or "",
            "l": self.label or "",
            "at": repr(self.published),
        }

    @classmethod
    def from_fields(cls, record_id: str, fields: dict[str, str]) -> BusRecord:
        return cls(
            call_id=fields["c"],
            protocol=fields["p"],
            type=fields["t"],
            data=fields["d"],
            instance=fields["i"],
            stream=fields.get("s") or None,
            status=fields.get("st") or None,
            label=fields.get("l") or None,
            published=float(fields.get("at") or 0.0),
            id=record_id,
        )


def parse_id(text: str) -> tuple[int, int]:
    """A bus position `<ms>-<n>` (or `<ms>`) as a sortable pair; ValueError if malformed."""
    ms, _, n = text.partition("-")
    if not ms.isdigit() or not (n.isdigit() or n == ""):
        raise ValueError(f"{text!r} is not a record id (<ms>-<n>)")
    return int(ms), int(n or 0)


def later(record_id: str, than: str | None) -> bool:
    """Whether `record_id` comes after the position `than` (None: before everything)."""
    return than is None or parse_id(record_id) > parse_id(than)


class LocalIds:
    """Positions for the in-process bus, in the same form and order Redis gives them."""

    def __init__(self) -> None:
        self._ms = 0
        self._n = 0

    def next(self) -> str:
        ms = int(time.time() * 1000)
        if ms <= self._ms:
            self._n += 1
        else:
            self._ms, self._n = ms, 0
        return f"{self._ms}-{self._n}"


_FILTER_KEYS = {"protocol": "protocols", "type": "types", "stream": "streams",
                "status": "statuses", "label": "labels", "call_id": "calls"}  # fmt: skip


@dataclass(frozen=True)
class RecordFilter:
    """Which records a `/v1/events` subscriber wants; an empty set accepts anything.

    Query parameters name the fields (`protocol`, `type`, `stream`, `status`,
    `label`, `call_id`), each repeated or comma-separated: `?type=utterance&label=angry,sad`.
    A started or summary record has no stream, status or label: those filters
    let it through, so a subscriber still learns when its calls begin and end.
    """

    protocols: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    streams: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()
    calls: frozenset[str] = frozenset()

    def accepts(self, record: BusRecord) -> bool:
        return (
            _allows(self.protocols, record.protocol)
            and _allows(self.types, record.type)
            and _allows(self.calls, record.call_id)
            and (record.stream is None or _allows(self.streams, record.stream))
            and (record.status is None or _allows(self.statuses, record.status))
            and (record.type != "utterance" or _allows(self.labels, record.label))
        )

    @classmethod
    def from_query(cls, query: str) -> RecordFilter:
        """The filter a query string asks for (`after` is not a filter and is skipped)."""
        values: dict[str, frozenset[str]] = {}
        for key, items in parse_qs(query, keep_blank_values=False).items():
            if key == "after":
                continue
            if key not in _FILTER_KEYS:
                raise ValueError(f"unknown filter {key!r} (known: {', '.join(_FILTER_KEYS)})")
            words = frozenset(w for item in items for w in item.split(",") if w)
            values[_FILTER_KEYS[key]] = words
        unknown = values.get("types", frozenset()) - set(RECORD_TYPES)
        if unknown:
            raise ValueError(f"unknown record type {sorted(unknown)[0]!r}")
        return cls(**values)


def _allows(wanted: frozenset[str], value: str | None) -> bool:
    return not wanted or (value is not None and value in wanted)


def query_after(query: str) -> str | None:
    """The `after` position of a subscription's query string; ValueError if malformed."""
    values = parse_qs(query).get("after")
    if not values:
        return None
    parse_id(values[-1])
    return values[-1]
