"""What every adapter shares: the server context, a reader that honours idle time and
shutdown, and protocol-error replies."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streamser.audio import AudioFormat, Encoding
from streamser.errors import MissingExtraError
from streamser.events import ErrorEvent, SummaryEvent
from streamser.server.bus import EventBus, Hub, LocalBroker, Subscription, instance_name
from streamser.server.metrics import ServerMetrics
from streamser.server.options import Limits, ServerOptions
from streamser.server.pool import InferencePool
from streamser.server.session import CallSession, CallSpec, Emit
from streamser.streams import RecognizerOptions

try:
    from websockets.exceptions import ConnectionClosed
except ImportError as error:  # pragma: no cover - exercised without the extra
    raise MissingExtraError("streamser serve", "serve", "websockets") from error

log = logging.getLogger(__name__)

MULAW_8K = AudioFormat(8000, 1, Encoding.MULAW)
"""The telephone audio both platform protocols carry (Twilio, AudioHook PCMU)."""

STOP = "stop"
"""`Reader.next`: the server is shutting down."""
IDLE = "idle"
"""`Reader.next`: nothing arrived within the timeout."""
GONE = "gone"
"""`Reader.next`: the client closed the connection or it broke."""

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_INTERNAL_ERROR = 1011


class ProtocolError(Exception):
    """A client message that breaks the protocol; its text goes back to the client.

    Attributes:
        reason: Label for the `streamser_rejected_messages_total` metric.
        fatal: The message is not what its schema says (a field of the wrong type):
            the call ends (`failed`, close 1008) rather than guess what was meant.
    """

    def __init__(self, message: str, reason: str = "malformed", fatal: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.fatal = fatal


@dataclass
class Context:
    """What the server gives each connection.

    Attributes:
        options: The server's options.
        pool: The shared inference pool.
        metrics: Counters and health.
        stop: Set when the server starts its graceful shutdown.
        bus: Where every call's events go beyond its own client (subscribers,
            webhooks, Redis); by default a bus within this process.
        calls: Twilio call SIDs in progress.
    """

    options: ServerOptions
    pool: InferencePool
    metrics: ServerMetrics
    stop: asyncio.Event
    bus: EventBus = None  # type: ignore[assignment]  # made in __post_init__ when absent
    calls: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.bus is None:
            hub = Hub(self.metrics, self.options.bus.subscriber_queue)
            broker = LocalBroker(hub, self.options.bus)
            self.bus = EventBus(broker, [], instance_name(), self.metrics)

    @property
    def subscribers(self) -> dict[str, set[Subscription]]:
        """Call id -> its subscribers in this process."""
        return self.bus.hub.per_call

    @property
    def limits(self) -> Limits:
        return self.options.limits

    @property
    def recognizer(self) -> RecognizerOptions:
        return self.options.recognizer

    def open_call(
        self, spec: CallSpec, emit: Emit, on_stall: Callable[[], None] | None = None
    ) -> CallSession:
        """A new call on the shared pool, counted, logged and announced on the bus."""
        session = CallSession(
            spec,
            self.pool,
            self.recognizer,
            self.limits,
            emit,
            on_stall,
            publish=self.bus.publisher(spec),
        )
        self.bus.call_started(session)
        self.metrics.active_calls.labels(spec.protocol).inc()
        log.info("call %s started (%s, %s)", spec.call_id, spec.protocol, spec.describe())
        return session

    async def close_call(
        self, session: CallSession, status: str, stalled: bool = False
    ) -> SummaryEvent:
        """Finishes a call (its last events and summary go out), counted and logged.

        A call whose client stopped reading (`StallGuard`) is counted as `stalled`.
        """
        try:
            summary = await session.finish(status)
        finally:
            self.bus.call_ended(session)  # off the list of calls in progress, whatever happened
        protocol = session.spec.protocol
        counted = "stalled" if stalled else status
        self.metrics.active_calls.labels(protocol).dec()
        self.metrics.calls.labels(protocol, counted).inc()
        log.info("call %s %s: %s", session.spec.call_id, counted, summary.totals.to_dict())
        return summary


class Reader:
    """Receives messages one at a time, giving up on shutdown or after a timeout.

    The hot path is one `await ws.recv()` and a deadline stored as a float: no task,
    no timer and no context manager per message (a message already received returns
    without the loop running at all). Each connection has one timer at a time: when
    it fires before the deadline (messages came since it was set) it moves itself to
    the deadline, so a steady call costs a timer per timeout period, not one per
    message. A long-lived task watches the stop event. When the deadline passes or
    the stop event is set while a receive waits, the receive is cancelled (only ever
    when the call is ending, which `websockets` handles safely).
    """

    def __init__(self, ws, stop: asyncio.Event) -> None:
        self._ws = ws
        self._stop = stop
        self._watch: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._receiving = False
        self._interrupted = False

    async def next(self, timeout: float) -> str | bytes:
        """The next message (str or bytes), or STOP, IDLE or GONE (as the constants)."""
        if self._stop.is_set():
            return _Signal(STOP)
        if timeout <= 0:
            return _Signal(IDLE)
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            self._watch = asyncio.ensure_future(self._stop.wait())
            self._watch.add_done_callback(self._interrupt)
        self._deadline = deadline = loop.time() + timeout
        timer = self._timer
        if timer is None or deadline < timer.when():  # a shorter timeout than the timer's
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(deadline, self._expire)
        self._receiving = True
        try:
            return await self._ws.recv()
        except asyncio.CancelledError:
            if not self._interrupted:
                raise
            self._interrupted = False
            if self._task is not None and self._task.uncancel():  # cancelled from outside too
                raise
            return _Signal(STOP if self._stop.is_set() else IDLE)
        except ConnectionClosed:
            return _Signal(GONE)
        finally:
            self._receiving = False

    def _expire(self) -> None:
        self._timer = None
        if not self._receiving:  # the next receive sets its own deadline and timer
            return
        assert self._loop is not None
        if self._loop.time() < self._deadline:  # messages came since the timer was set
            self._timer = self._loop.call_at(self._deadline, self._expire)
            return
        self._interrupt()

    def _interrupt(self, _watch: asyncio.Task | None = None) -> None:
        """Ends a pending receive: its deadline passed or the server is stopping."""
        if self._receiving and not self._interrupted and self._task is not None:
            self._interrupted = True
            self._task.cancel()

    def close(self) -> None:
        if self._watch is not None and not self._watch.done():
            self._watch.cancel()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _Signal(str):
    """A reader outcome that is not a message (compare with `is_signal`)."""


def is_signal(value: object, kind: str | None = None) -> bool:
    return isinstance(value, _Signal) and (kind is None or value == kind)


def parse_json_object(message: str | bytes, limit: int) -> dict[str, Any]:
    """A text message as a JSON object, or ProtocolError."""
    check_size(message, limit)
    if isinstance(message, bytes):
        raise ProtocolError("expected a JSON text message, got binary", "unexpected_binary")
    try:
        value = json.loads(message)
    except json.JSONDecodeError as error:
        raise ProtocolError(f"malformed JSON at character {error.pos}: {error.msg}") from None
    except (ValueError, RecursionError):  # an integer of thousands of digits, deep nesting
        raise ProtocolError("malformed JSON: a number too long or nesting too deep") from None
    if not isinstance(value, dict):
        raise ProtocolError("expected a JSON object")
    return value


_TYPE_NAMES = {str: "a string", int: "an integer", list: "a list", dict: "an object"}
_REQUIRED = object()


def typed(obj: dict[str, Any], name: str, kind: type, where: str, default: Any = _REQUIRED) -> Any:
    """`obj[name]` if it has the JSON type the protocol's schema gives it.

    A missing field gets `default` (required when there is none); a field of the
    wrong type is a fatal ProtocolError: the client is not speaking this protocol.
    `where` may come from the client (a message's type): it is quoted unless printable.
    """
    if not where.isprintable():
        where = repr(where)
    if name not in obj or obj[name] is None:
        if default is _REQUIRED:
            raise ProtocolError(f"{where}: {name} is missing", "schema", fatal=True)
        return default
    value = obj[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(
            f"{where}: {name} must be {_TYPE_NAMES.get(kind, kind.__name__)}, "
            f"not {type(value).__name__}",
            "schema",
            fatal=True,
        )
    return value


def check_size(message: str | bytes, limit: int) -> None:
    size = len(message) if isinstance(message, bytes) else len(message.encode())
    if size > limit:
        raise ProtocolError(
            f"message of {size} bytes exceeds the limit of {limit} bytes; dropped", "too_large"
        )


def error_line(message: str, fatal: bool = False) -> str:
    """A protocol error as the native protocol's `error` event."""
    return ErrorEvent(message=message, fatal=fatal).to_json()


async def close_quietly(ws, code: int, reason: str = "") -> None:
    try:
        await ws.close(code, reason)
    except Exception as error:  # closing a broken connection: nothing left to do
        log.debug("close: %s", error)


class StallGuard:
    """Drops a connection whose client has stopped reading its events.

    `CallSession` calls it once its send has waited `Limits.send_timeout_s`. A
    close handshake cannot get through a full send buffer, so the connection is
    aborted; the call then ends as if the client had left, and is counted as
    `stalled`.
    """

    def __init__(self, ws) -> None:
        self._ws = ws
        self.stalled = False

    def __call__(self) -> None:
        self.stalled = True
        self._ws.transport.abort()
