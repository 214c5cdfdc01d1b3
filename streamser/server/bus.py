"""The event bus: every call's events leave the call here, whatever its protocol.

```
CallSession --publish--> EventBus --> Broker (places and keeps records) --> Hub --> subscribers
                             |          LocalBroker: in this process
                             |          RedisBroker: XADD, read back by every instance
                             +--> sinks (webhooks)
```

A call publishes without waiting: the broker and the sinks take a record in
constant time and bound what they hold, so no subscriber, endpoint or broker
can slow a call. The `Hub` fans placed records out to this process's
subscribers, each with a bounded queue: one that falls behind is dropped (it can
resume from the last id it saw), never waited for.

Ids are bus positions (`<ms>-<n>`, Redis's form): a record's id orders it
among all records, so a subscriber that joins, or comes back, replays the
backlog after its last id and then follows the live records, skipping any it
has already seen.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from streamser.events import Event
from streamser.server.metrics import ServerMetrics
from streamser.server.options import BusOptions
from streamser.server.records import STARTED, BusRecord, CallInfo, LocalIds, RecordFilter, later
from streamser.server.session import CallSession, CallSpec

log = logging.getLogger(__name__)

LOCAL_GLOBAL_BACKLOG = 10_000
"""Records across all calls the in-process bus keeps for `/v1/events?after=ID`."""
RETAINED_CALLS = 256
"""Ended calls whose records the in-process bus keeps for late subscribers."""
OPEN_CALLS_SEEN = 10_000
"""Calls the hub remembers having seen start and not end (a bound, should their
instance vanish before their summary)."""

Directory = Callable[[], list[CallInfo]]
"""This process's calls in progress, as `GET /v1/calls` lists them."""
Sink = Callable[[BusRecord], None]
"""Takes every record of this process's calls without waiting (webhooks)."""


class BrokerUnavailable(Exception):
    """The shared broker cannot be reached: calls go on, subscribers are told to retry."""


def instance_name() -> str:
    """This process's name on the bus: host, pid and a random part (a restarted
    process with the same pid is another instance)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


class Subscription:
    """One subscriber's queue of placed records; None in it means it was dropped.

    Attributes:
        call_id: The one call it follows, or None for every call.
        filter: Which records it wants.
        dropped: It fell `queue.maxsize` records behind and was let go.
    """

    def __init__(self, call_id: str | None, wanted: RecordFilter, maxsize: int) -> None:
        self.call_id = call_id
        self.filter = wanted
        self.queue: asyncio.Queue[BusRecord | None] = asyncio.Queue(maxsize)
        self.dropped = False

    def offer(self, record: BusRecord) -> bool:
        """Queues the record; False (and dropped) when the subscriber is too far behind."""
        if self.dropped or not self.filter.accepts(record):
            return True
        try:
            self.queue.put_nowait(record)
            return True
        except asyncio.QueueFull:
            self.dropped = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)
            return False


class Hub:
    """This process's subscribers, and the records placed on the bus handed to them."""

    def __init__(self, metrics: ServerMetrics, queue_size: int) -> None:
        self._metrics = metrics
        self._queue_size = queue_size
        self._by_call: dict[str, set[Subscription]] = {}
        self._everything: set[Subscription] = set()
        self._open: OrderedDict[str, str] = OrderedDict()

    def subscribe(self, call_id: str | None, wanted: RecordFilter | None = None) -> Subscription:
        """A new subscription to one call's records (or, with None, to every call's)."""
        sub = Subscription(call_id, wanted or RecordFilter(), self._queue_size)
        if call_id is None:
            self._everything.add(sub)
        else:
            self._by_call.setdefault(call_id, set()).add(sub)
        self._metrics.subscribers.inc()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub.call_id is None:
            if sub not in self._everything:
                return
            self._everything.discard(sub)
        else:
            subs = self._by_call.get(sub.call_id)
            if subs is None or sub not in subs:
                return
            subs.discard(sub)
            if not subs:
                del self._by_call[sub.call_id]
        self._metrics.subscribers.dec()

    def deliver(self, record: BusRecord) -> None:
        """Hands a placed record to every subscriber that wants it; never waits."""
        if record.published:
            self._metrics.bus_delay.observe(max(0.0, time.time() - record.published))
        if record.type == STARTED:
            self._open[record.call_id] = record.id
            self._open.move_to_end(record.call_id)
            if len(self._open) > OPEN_CALLS_SEEN:
                self._open.popitem(last=False)
        elif record.final:
            self._open.pop(record.call_id, None)
        for sub in (*self._by_call.get(record.call_id, ()), *self._everything):
            if not sub.offer(record):
                self._metrics.subscribers_dropped.inc()
                log.warning(
                    "subscriber of %s fell %d records behind; dropped",
                    sub.call_id or "all calls",
                    self._queue_size,
                )

    def open_calls(self) -> list[str]:
        """Calls whose start this hub has seen and whose summary it has not, oldest
        first: a new subscriber replays them even before the directory lists them."""
        return list(self._open)

    @property
    def per_call(self) -> dict[str, set[Subscription]]:
        """Call id -> its subscribers (a view for diagnostics and tests)."""
        return self._by_call


class Broker:
    """Places records on the bus (gives them their id), keeps a bounded backlog of
    them, and hands placed records to the hub. Subclasses: `LocalBroker`,
    `streamser.server.redis_broker.RedisBroker`."""

    kind = ""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def start(self, directory: Directory) -> None:
        """Starts background work; `directory` lists this process's calls in progress."""

    def publish(self, record: BusRecord) -> None:
        """Takes a record of one of this process's calls; never waits."""
        raise NotImplementedError

    def changed(self) -> None:
        """A call of this process began or ended (the shared directory is refreshed)."""

    def iter_call(self, call_id: str, after: str | None) -> AsyncIterator[BusRecord]:
        """The kept records of the call's latest run, after position `after`, in order."""
        raise NotImplementedError

    def iter_all(self, after: str) -> AsyncIterator[BusRecord]:
        """The kept records of every call after position `after`, in bus order."""
        raise NotImplementedError

    async def calls(self) -> list[CallInfo]:
        """Every call in progress that subscribers of this bus can reach."""
        raise NotImplementedError

    async def close(self, timeout_s: float) -> None:
        """Hands on what it holds within `timeout_s`, then stops."""

    def describe(self) -> dict[str, Any]:
        return {"broker": self.kind}


class LocalBroker(Broker):
    """The bus within one process: records are placed, kept and delivered at once."""

    kind = "local"

    def __init__(self, hub: Hub, options: BusOptions) -> None:
        super().__init__(hub)
        self.options = options
        self._ids = LocalIds()
        self._directory: Directory = list
        self._calls: OrderedDict[str, deque[BusRecord]] = OrderedDict()
        self._ended: OrderedDict[str, float] = OrderedDict()
        self._all: deque[BusRecord] = deque(
            maxlen=min(options.global_backlog, LOCAL_GLOBAL_BACKLOG)
        )

    async def start(self, directory: Directory) -> None:
        self._directory = directory

    def publish(self, record: BusRecord) -> None:
        record = record.placed(self._ids.next())
        if record.type == STARTED or record.call_id not in self._calls:
            # A call id used again starts a new backlog: late subscribers get this run.
            self._calls[record.call_id] = deque(maxlen=self.options.call_backlog)
            self._ended.pop(record.call_id, None)
        self._calls[record.call_id].append(record)
        self._all.append(record)
        if record.final:
            self._ended[record.call_id] = time.monotonic()
            self._forget_old_calls()
        self.hub.deliver(record)

    def _forget_old_calls(self) -> None:
        oldest_kept = time.monotonic() - self.options.retention_s
        while self._ended:
            call_id, ended = next(iter(self._ended.items()))
            if len(self._ended) <= RETAINED_CALLS and ended >= oldest_kept:
                return
            del self._ended[call_id]
            self._calls.pop(call_id, None)

    async def iter_call(self, call_id: str, after: str | None) -> AsyncIterator[BusRecord]:
        for record in list(self._calls.get(call_id, ())):
            if later(record.id, after):
                yield record

    async def iter_all(self, after: str) -> AsyncIterator[BusRecord]:
        for record in list(self._all):
            if later(record.id, after):
                yield record

    async def calls(self) -> list[CallInfo]:
        return self._directory()


class EventBus:
    """What the server does with each call's events beyond the call's own client.

    Args:
        broker: Places, keeps and delivers the records.
        sinks: Also get every record of this process's calls (webhooks).
        instance: This process's name on the bus.
        metrics: Counters.
    """

    def __init__(
        self, broker: Broker, sinks: list[Sink], instance: str, metrics: ServerMetrics
    ) -> None:
        self.broker = broker
        self.hub = broker.hub
        self.instance = instance
        self._sinks = sinks
        self._metrics = metrics
        self._sessions: dict[CallSession, float] = {}

    async def start(self) -> None:
        await self.broker.start(self.local_calls)

    def call_started(self, session: CallSession) -> None:
        """A call of this process opened: its started record goes out."""
        self._sessions[session] = time.time()
        self._publish(BusRecord.started(self._info(session)))
        self.broker.changed()

    def call_ended(self, session: CallSession) -> None:
        """A call of this process has sent its summary."""
        self._sessions.pop(session, None)
        self.broker.changed()

    def publisher(self, spec: CallSpec) -> Callable[[Event], None]:
        """What a call hands each of its events to, in order (never waits, never raises)."""

        def publish(event: Event) -> None:
            self._publish(BusRecord.of_event(spec.call_id, spec.protocol, self.instance, event))

        return publish

    def _publish(self, record: BusRecord) -> None:
        self._metrics.bus_records.labels(record.type).inc()
        for take in (self.broker.publish, *self._sinks):
            try:
                take(record)
            except Exception:  # a bug in one destination must not end the call
                log.exception("call %s: a record could not be published", record.call_id)

    def local_calls(self) -> list[CallInfo]:
        """This process's calls in progress, oldest first."""
        return [self._info(session) for session in self._sessions]

    def is_local(self, call_id: str) -> bool:
        return any(session.spec.call_id == call_id for session in self._sessions)

    async def is_active(self, call_id: str) -> bool:
        """Whether the call is in progress on any instance this bus reaches."""
        if self.is_local(call_id):
            return True
        return any(info.call_id == call_id for info in await self.broker.calls())

    async def close(self, timeout_s: float) -> None:
        await self.broker.close(timeout_s)

    def _info(self, session: CallSession) -> CallInfo:
        spec = session.spec
        return CallInfo(
            call_id=spec.call_id,
            protocol=spec.protocol,
            started=self._sessions.get(session, time.time()),
            streams=spec.channels,
            instance=self.instance,
            counts=session.streams.counts(),
        )
