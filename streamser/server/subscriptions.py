"""Subscriptions: where calls' results come out, whatever protocol carried the call.

| path | what |
| --- | --- |
| `GET /v1/calls` | calls in progress: id, protocol, started, streams, counts |
| `WS /v1/calls/{call_id}/events` | one call's records: backlog, then live; ends after the summary |
| `WS /v1/events` | every call's records, filtered by the query (`records.RecordFilter`) |
| `WS /twilio/subscribe/{callSid}` | the older form of the second: the call's bare event lines |

A subscriber may pass `?after=ID` (the `id` of the last record it received) to
resume where it left off: on any instance when the bus is Redis, so a subscriber
whose instance restarts loses nothing. Every record goes out as one JSON text
message (`BusRecord.envelope`). A subscriber that falls `BusOptions.subscriber_queue`
records behind is closed (1008) and may resume from its last id; the calls never
wait for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from urllib.parse import unquote

from streamser.server.bus import BrokerUnavailable, EventBus, Subscription
from streamser.server.records import (
    CALLS_SCHEMA,
    STARTED,
    BusRecord,
    RecordFilter,
    later,
    query_after,
)
from streamser.server.wire import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    Context,
    close_quietly,
)

log = logging.getLogger(__name__)

CALLS_PATH = "/v1/calls"
EVENTS_PATH = "/v1/events"
LEGACY_PREFIX = "/twilio/subscribe/"
_CALL_EVENTS = re.compile(r"/v1/calls/([^/]+)/events")

CALLS = "calls"
CALL_EVENTS = "call_events"
EVENTS = "events"
LEGACY = "legacy"

_CLOSED = "closed"
_STOPPING = "stopping"
_QUIET = "quiet"


def route(path: str) -> tuple[str, str | None] | None:
    """(kind, call id) for a subscription path, or None if it is not one."""
    if path == CALLS_PATH:
        return CALLS, None
    if path == EVENTS_PATH:
        return EVENTS, None
    match = _CALL_EVENTS.fullmatch(path)
    if match:
        return CALL_EVENTS, unquote(match.group(1))
    if path.startswith(LEGACY_PREFIX) and len(path) > len(LEGACY_PREFIX):
        return LEGACY, unquote(path[len(LEGACY_PREFIX) :])
    return None


def check_query(kind: str, query: str) -> str | None:
    """Why a subscription's query string is refused (HTTP 400), or None."""
    try:
        query_after(query)
        if kind == EVENTS:
            RecordFilter.from_query(query)
    except ValueError as error:
        return str(error)
    return None


async def calls_document(bus: EventBus) -> bytes:
    """`GET /v1/calls`: the calls in progress on every instance the bus reaches."""
    calls = sorted(await bus.broker.calls(), key=lambda info: (info.started, info.call_id))
    document = {
        "schema": CALLS_SCHEMA,
        "instance": bus.instance,
        **bus.broker.describe(),
        "calls": [info.to_dict() for info in calls],
    }
    return json.dumps(document).encode()


async def serve(ctx: Context, ws, kind: str, call_id: str | None, query: str) -> None:
    """Runs one subscription until it ends; never raises."""
    after = query_after(query)
    if kind == EVENTS:
        follower = _follow_all(ctx, ws, RecordFilter.from_query(query), after)
    else:
        assert call_id is not None
        follower = _follow_call(ctx, ws, call_id, after, bare=kind == LEGACY)
    await follower


class _Waiter:
    """The next live record, or why there is none: the subscriber left, the
    server is stopping, or nothing came for a while."""

    def __init__(self, ws, stop: asyncio.Event) -> None:
        self._closed = asyncio.ensure_future(ws.wait_closed())
        self._stop = asyncio.ensure_future(stop.wait())
        self.heed_stop = True

    async def next(self, sub: Subscription, timeout_s: float | None) -> BusRecord | str | None:
        if not sub.queue.empty():
            return sub.queue.get_nowait()
        getter = asyncio.ensure_future(sub.queue.get())
        waits = {getter, self._closed} | ({self._stop} if self.heed_stop else set())
        done, _ = await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            return getter.result()
        getter.cancel()
        if self._closed in done:
            return _CLOSED
        if self._stop in done:
            return _STOPPING
        return _QUIET

    def cancel(self) -> None:
        self._closed.cancel()
        self._stop.cancel()


class _Out:
    """Sends records to one subscriber, giving up after `send_timeout_s`."""

    def __init__(self, ws, timeout_s: float, bare: bool) -> None:
        self._ws = ws
        self._timeout_s = timeout_s
        self._bare = bare

    async def send(self, record: BusRecord) -> None:
        if self._bare:  # the older form: the events alone, as the native protocol sends them
            if record.type == STARTED:
                return
            text = record.data
        else:
            text = record.envelope()
        async with asyncio.timeout(self._timeout_s):  # not `wait_for`: see CallSession._send
            await self._ws.send(text)


async def _follow_call(ctx: Context, ws, call_id: str, after: str | None, bare: bool) -> None:
    bus = ctx.bus
    sub = bus.hub.subscribe(call_id)
    waiter = _Waiter(ws, ctx.stop)
    out = _Out(ws, ctx.limits.send_timeout_s, bare)
    code, reason = CLOSE_NORMAL, ""
    try:
        last, seen = after, False
        async for record in bus.broker.iter_call(call_id, after):
            await out.send(record)
            last, seen = record.id, True
            if record.final:
                return
        while True:
            outcome = await waiter.next(sub, ctx.limits.idle_timeout_s)
            if outcome == _CLOSED:
                return
            if outcome == _STOPPING:
                if bus.is_local(call_id):
                    waiter.heed_stop = False  # its summary is on its way
                    continue
                code, reason = CLOSE_GOING_AWAY, "server stopping; resume elsewhere with ?after"
                return
            if outcome == _QUIET:
                if await bus.is_active(call_id):
                    continue
                log.info("subscriber of %s: no such call in progress; closing", call_id)
                code = CLOSE_POLICY if not seen else CLOSE_INTERNAL_ERROR
                reason = "no such call" if not seen else "the call ended without a summary"
                return
            if outcome is None:
                code, reason = CLOSE_POLICY, "fell behind; resume with ?after"
                return
            assert isinstance(outcome, BusRecord)
            if not later(outcome.id, last):
                continue  # already sent from the backlog
            await out.send(outcome)
            last, seen = outcome.id, True
            if outcome.final:
                return
    except BrokerUnavailable as error:
        log.warning("subscriber of %s: %s", call_id, error)
        code, reason = CLOSE_INTERNAL_ERROR, "event broker unavailable; retry with ?after"
    except Exception as error:  # a subscriber that broke or stopped reading
        log.info("subscriber of %s: %s", call_id, error or type(error).__name__)
    finally:
        bus.hub.unsubscribe(sub)
        waiter.cancel()
        await close_quietly(ws, code, reason)


async def _follow_all(ctx: Context, ws, wanted: RecordFilter, after: str | None) -> None:
    bus = ctx.bus
    sub = bus.hub.subscribe(None, wanted)
    waiter = _Waiter(ws, ctx.stop)
    out = _Out(ws, ctx.limits.send_timeout_s, bare=False)
    code, reason = CLOSE_NORMAL, ""
    try:
        floor = after
        last_by_call: dict[str, str] = {}
        async for record in _backlog(bus, after):
            if after is None:
                last_by_call[record.call_id] = record.id
            else:
                floor = record.id
            if wanted.accepts(record):
                await out.send(record)
        while True:
            outcome = await waiter.next(sub, None)
            if outcome == _CLOSED:
                return
            if outcome == _STOPPING:
                code, reason = CLOSE_GOING_AWAY, "server stopping; resume elsewhere with ?after"
                return
            if outcome is None:
                code, reason = CLOSE_POLICY, "fell behind; resume with ?after"
                return
            assert isinstance(outcome, BusRecord)
            if not later(outcome.id, floor):
                continue
            seen = last_by_call.get(outcome.call_id)
            if seen is not None:
                if not later(outcome.id, seen):
                    continue  # already sent from the call's backlog
                del last_by_call[outcome.call_id]  # live from here on
            await out.send(outcome)
    except BrokerUnavailable as error:
        log.warning("subscriber of all calls: %s", error)
        code, reason = CLOSE_INTERNAL_ERROR, "event broker unavailable; retry with ?after"
    except Exception as error:  # a subscriber that broke or stopped reading
        log.info("subscriber of all calls: %s", error or type(error).__name__)
    finally:
        bus.hub.unsubscribe(sub)
        waiter.cancel()
        await close_quietly(ws, code, reason)


async def _backlog(bus: EventBus, after: str | None) -> AsyncIterator[BusRecord]:
    """What a new `/v1/events` subscriber is sent first: every record after `after`
    or, without it, the records so far of every call in progress."""
    if after is not None:
        async for record in bus.broker.iter_all(after):
            yield record
        return
    listed = sorted(await bus.broker.calls(), key=lambda info: info.started)
    # The hub knows of calls that began a moment ago, before the directory lists them.
    calls = dict.fromkeys([*bus.hub.open_calls(), *(info.call_id for info in listed)])
    for call_id in calls:
        async for record in bus.broker.iter_call(call_id, None):
            yield record
