"""The event bus across instances: Redis streams (`streamser serve --redis URL`).

Keys, under `BusOptions.prefix` (`streamser` by default):

- `{prefix}:events`: every record of every call (`XADD ... MAXLEN ~ global_backlog`).
- `{prefix}:call:{call_id}`: one call's records under the same ids (`MAXLEN ~
  call_backlog`); begun anew when a call with that id starts; expires
  `retention_s` after its last record.
- `{prefix}:instances`, `{prefix}:instance:{name}`: the instances, and each one's
  calls in progress (JSON, expiring unless refreshed).
- `{prefix}:instance:{name}:seq`: the last record of that instance Redis holds, so
  a batch written again after a broken connection is not added twice.

Writing: a call's record goes into a bounded buffer and the call goes on. One
writer task sends buffered records in pipelined batches, each record one call of
a Lua script (both XADDs and the bookkeeping at once), one round trip per batch.
While Redis cannot be reached the writer retries with backoff; the buffer holds
`buffer_records`, beyond which the oldest are counted lost
(`streamser_bus_lost_records_total`).

Reading: one task per instance blocks on `XREAD` of the global stream and hands
each record to the hub in bus order; after an outage it goes on from the last id
it read, so nothing the stream still holds is missed. Subscribers replay with
`XRANGE` and then follow the hub.

Needs Redis 6.2 or later (exclusive `XRANGE` starts) and one primary: not Redis
Cluster, since the script writes keys of different slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from streamser.errors import MissingExtraError
from streamser.server.bus import Broker, BrokerUnavailable, Directory, Hub
from streamser.server.metrics import ServerMetrics
from streamser.server.options import BusOptions
from streamser.server.records import BusRecord, CallInfo

try:
    import redis.asyncio as aioredis
    from redis.exceptions import NoScriptError, RedisError
except ImportError as error:  # pragma: no cover - exercised without the extra
    raise MissingExtraError("streamser serve --redis", "redis", "redis") from error

log = logging.getLogger(__name__)

WRITE_BATCH = 256
"""Records per pipelined round trip."""
READ_BATCH = 500
"""Records per XREAD or XRANGE page."""
READ_BLOCK_MS = 1000
DIRECTORY_INTERVAL_S = 1.0
"""How often an instance refreshes its calls' counts in the directory."""
DIRECTORY_TTL_S = 5
"""An instance that stopped refreshing its directory entry for this long is gone."""
SEQ_TTL_S = 86_400
CLOCK_MARGIN_MS = 5000
"""Starting without Redis, an instance reads from this long before its own clock's now."""
MAX_BACKOFF_S = 2.0

_WRITE = """
local last = tonumber(redis.call('GET', KEYS[3]) or '-1')
if tonumber(ARGV[5]) <= last then return false end
redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[6])
local fields = {}
for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
if ARGV[3] == 'started' then redis.call('DEL', KEYS[2]) end
local added = redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], id, unpack(fields))
if type(added) == 'table' and added.err then
  redis.call('DEL', KEYS[2])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], id, unpack(fields))
end
redis.call('EXPIRE', KEYS[2], ARGV[4])
return id
"""
"""KEYS: global stream, call stream, instance seq. ARGV: global MAXLEN, call MAXLEN,
record type, retention s, record seq, seq TTL, then the record's fields."""


class RedisBroker(Broker):
    """The bus shared by every instance that names the same Redis.

    Args:
        hub: This process's subscribers.
        url: The Redis URL.
        options: Backlogs, retention and the outage buffer.
        instance: This process's name on the bus.
        metrics: Counters.
    """

    kind = "redis"

    def __init__(
        self, hub: Hub, url: str, options: BusOptions, instance: str, metrics: ServerMetrics
    ) -> None:
        super().__init__(hub)
        self.options = options
        self.instance = instance
        self._metrics = metrics
        self._redis = aioredis.from_url(url, decode_responses=True, socket_connect_timeout=2)
        self._reader = aioredis.from_url(
            url, decode_responses=True, socket_connect_timeout=2, socket_timeout=10
        )
        prefix = options.prefix
        self._global = f"{prefix}:events"
        self._call_prefix = f"{prefix}:call:"
        self._instances = f"{prefix}:instances"
        self._instance_key = f"{prefix}:instance:{instance}"
        self._seq_key = f"{self._instance_key}:seq"
        self._buffer: deque[tuple[int, BusRecord]] = deque()
        self._seq = 0
        self._sha = ""
        self._up = True
        self._stopping = False
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._directory: Directory = list
        self._tasks: list[asyncio.Task] = []
        self._read_from = "0-0"

    async def start(self, directory: Directory) -> None:
        self._directory = directory
        # Where this instance starts reading: the newest record now, so nothing written
        # once `start` returns is missed. Without Redis, the clock stands in for it.
        try:
            newest = await asyncio.wait_for(self._reader.xrevrange(self._global, count=1), 5)
            self._read_from = newest[0][0] if newest else "0-0"
            self._mark(up=True)
        except (RedisError, OSError, TimeoutError) as error:
            self._read_from = f"{int(time.time() * 1000) - CLOCK_MARGIN_MS}-0"
            self._mark(up=False, error=error)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._write_loop()),
            loop.create_task(self._read_loop()),
            loop.create_task(self._directory_loop()),
        ]

    def publish(self, record: BusRecord) -> None:
        self._seq += 1
        self._buffer.append((self._seq, record))
        self._bound()
        self._wake.set()

    def changed(self) -> None:
        self._changed.set()

    async def iter_call(self, call_id: str, after: str | None) -> AsyncIterator[BusRecord]:
        async for record in self._range(self._call_prefix + call_id, after):
            yield record

    async def iter_all(self, after: str) -> AsyncIterator[BusRecord]:
        async for record in self._range(self._global, after):
            yield record

    async def calls(self) -> list[CallInfo]:
        try:
            names = sorted(await self._redis.smembers(self._instances))
            keys = [f"{self.options.prefix}:instance:{name}" for name in names]
            values = await self._redis.mget(keys) if keys else []
        except (RedisError, OSError) as error:
            raise BrokerUnavailable(f"Redis: {error}") from None
        calls = self._directory()  # this instance's, current rather than as last written
        gone = []
        for name, value in zip(names, values, strict=True):
            if value is None:
                gone.append(name)
            elif name != self.instance:
                calls.extend(CallInfo.from_dict(item) for item in json.loads(value))
        if gone:
            with contextlib.suppress(RedisError, OSError):  # the next listing tries again
                await self._redis.srem(self._instances, *gone)
        return calls

    async def close(self, timeout_s: float) -> None:
        self._stopping = True
        self._wake.set()
        self._changed.set()
        if self._tasks:
            writer, *others = self._tasks
            done, _ = await asyncio.wait({writer}, timeout=timeout_s)
            for task in (*others, *({writer} - done)):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._buffer:
            self._lose(len(self._buffer), "at shutdown")
            self._buffer.clear()
        with contextlib.suppress(RedisError, OSError, TimeoutError):  # else it expires
            await asyncio.wait_for(self._forget_instance(), 2)
        for client in (self._redis, self._reader):
            await client.aclose()

    def describe(self) -> dict[str, Any]:
        return {"broker": self.kind, "redis_up": self._up}

    # writing

    def _bound(self) -> None:
        excess = len(self._buffer) - self.options.buffer_records
        if excess > 0:
            for _ in range(excess):
                self._buffer.popleft()
            self._lose(excess, "buffer full")
        self._metrics.bus_buffered.set(len(self._buffer))

    def _lose(self, count: int, why: str) -> None:
        self._metrics.bus_lost.inc(count)
        log.warning("event bus: %d record(s) lost (%s)", count, why)

    async def _write_loop(self) -> None:
        backoff = 0.05
        while True:
            if not self._buffer:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._buffer.popleft() for _ in range(min(WRITE_BATCH, len(self._buffer)))]
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                self._buffer.extendleft(reversed(batch))
                raise
            except (RedisError, OSError) as error:
                self._buffer.extendleft(reversed(batch))
                self._bound()
                if isinstance(error, NoScriptError):
                    self._sha = ""  # Redis restarted without the script: load it again
                    continue
                self._mark(up=False, error=error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            backoff = 0.05
            self._mark(up=True)
            self._metrics.bus_buffered.set(len(self._buffer))

    async def _write(self, batch: list[tuple[int, BusRecord]]) -> None:
        if not self._sha:
            self._sha = await self._redis.script_load(_WRITE)
        options = self.options
        pipe = self._redis.pipeline(transaction=False)
        for seq, record in batch:
            fields = [item for pair in record.fields().items() for item in pair]
            pipe.evalsha(
                self._sha,
                3,
                self._global,
                self._call_prefix + record.call_id,
                self._seq_key,
                options.global_backlog,
                options.call_backlog,
                record.type,
                int(options.retention_s),
                seq,
                SEQ_TTL_S,
                *fields,
            )
        await pipe.execute()

    def _mark(self, up: bool, error: BaseException | None = None) -> None:
        if up != self._up:
            if up:
                log.info("event bus: Redis answers again; sending buffered records")
            else:
                log.warning(
                    "event bus: Redis unreachable (%s); calls go on, up to %d records wait",
                    error,
                    self.options.buffer_records,
                )
        self._up = up
        self._metrics.bus_up.set(1 if up else 0)

    # reading

    async def _read_loop(self) -> None:
        last = self._read_from
        backoff = 0.05
        while not self._stopping:
            try:
                reply = await self._reader.xread(
                    {self._global: last}, count=READ_BATCH, block=READ_BLOCK_MS
                )
            except (RedisError, OSError) as error:
                log.debug("event bus reader: %s", error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            backoff = 0.05
            for record_id, fields in _entries(reply):
                last = record_id
                self.hub.deliver(BusRecord.from_fields(record_id, fields))

    async def _range(self, key: str, after: str | None) -> AsyncIterator[BusRecord]:
        start = "-" if after is None else f"({after}"
        while True:
            try:
                page = await self._redis.xrange(key, min=start, max="+", count=READ_BATCH)
            except (RedisError, OSError) as error:
                raise BrokerUnavailable(f"Redis: {error}") from None
            for record_id, fields in page:
                yield BusRecord.from_fields(record_id, fields)
            if len(page) < READ_BATCH:
                return
            start = f"({page[-1][0]}"

    # the directory of calls in progress

    async def _directory_loop(self) -> None:
        while not self._stopping:
            self._changed.clear()
            calls = [info.to_dict() for info in self._directory()]
            try:
                pipe = self._redis.pipeline(transaction=False)
                pipe.set(self._instance_key, json.dumps(calls), ex=DIRECTORY_TTL_S)
                pipe.sadd(self._instances, self.instance)
                await pipe.execute()
            except (RedisError, OSError) as error:
                log.debug("event bus directory: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), DIRECTORY_INTERVAL_S)

    async def _forget_instance(self) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.delete(self._instance_key)
        pipe.srem(self._instances, self.instance)
        await pipe.execute()


def _entries(reply: Any) -> list[tuple[str, dict[str, str]]]:
    """XREAD's reply (a list of [stream, entries], or a dict with RESP3) as entries."""
    if not reply:
        return []
    streams = reply.items() if isinstance(reply, dict) else reply
    return [(entry[0], entry[1]) for _stream, entries in streams for entry in entries]
