"""The one loop every protocol runs, from the first message to the close.

```
Reader.next -> Adapter.handle(message) -> actions: Open | Audio | Gap | End
                                             |
                       CallSession (segment, pool, events in order) -> Adapter.emit
```

An adapter (native, Twilio, AudioHook) knows only its wire format: how a message
becomes actions, how an event is written, what to say when a message breaks the
protocol or the server ends the call. The loop owns everything else, once: the
open and idle timeouts, the graceful shutdown, the call's session, the count of
rejected messages, the stalled-client guard and the close.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from streamser.events import Event
from streamser.server.session import CallSession, CallSpec
from streamser.server.wire import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    IDLE,
    STOP,
    ConnectionClosed,
    Context,
    ProtocolError,
    Reader,
    StallGuard,
    close_quietly,
    is_signal,
)

log = logging.getLogger(__name__)

LOGGED_REJECTIONS = 10
"""Protocol errors logged per connection; a client repeating one cannot flood the log."""


@dataclass(frozen=True)
class Open:
    """Start the call the handshake describes."""

    spec: CallSpec


@dataclass(frozen=True)
class Audio:
    """Audio in the call's format: interleaved frames of every channel, or one
    channel's alone (`channel`, for protocols that send each track on its own)."""

    data: bytes
    channel: int | None = None


@dataclass(frozen=True)
class Gap:
    """Audio the client left out, in seconds: event times stay on the call's clock."""

    seconds: float


@dataclass(frozen=True)
class End:
    """The call ends here, with this summary status and WebSocket close code."""

    status: str = "completed"
    code: int = CLOSE_NORMAL


Action = Open | Audio | Gap | End


class Adapter:
    """One protocol's wire format. Subclasses implement `handle` and `emit`; the
    other hooks have the defaults most protocols want.

    Attributes:
        protocol: The protocol's name, for metrics and logs.
        call: The call, once opened.
    """

    protocol = ""

    def __init__(self, ctx: Context, ws) -> None:
        self.ctx = ctx
        self.ws = ws
        self.call: CallSession | None = None
        self._rejections = 0

    async def handle(self, message: str | bytes) -> list[Action]:
        """One client message -> what the loop should do (maybe nothing).

        Raises:
            ProtocolError: The message breaks the protocol.
        """
        raise NotImplementedError

    async def emit(self, event: Event) -> None:
        """Sends one of the call's events wherever this protocol's results go."""
        raise NotImplementedError

    async def opened(self, call: CallSession) -> None:
        """The call has started: acknowledge it if the protocol does."""

    async def rejected(self, error: ProtocolError) -> None:
        """A message broke the protocol (already counted): tell the client if it listens."""
        self.log_rejection(error)

    def log_rejection(self, error: ProtocolError) -> None:
        self._rejections += 1
        if self._rejections <= LOGGED_REJECTIONS:
            log.warning("%s %s: %s", self.protocol, self.label, error)
        if self._rejections == LOGGED_REJECTIONS:
            log.warning("%s %s: further protocol errors not logged", self.protocol, self.label)

    async def interrupted(self, signal: str, timeout_s: float) -> End:
        """The server is stopping (STOP), the client fell silent (IDLE) or left (GONE)."""
        if signal == STOP:
            return End("stopped", CLOSE_GOING_AWAY)
        if signal == IDLE:
            return End("stopped", CLOSE_POLICY)
        return End("stopped", CLOSE_NORMAL)

    async def closed(self) -> None:
        """After the summary went out and before the WebSocket closes."""

    @property
    def label(self) -> str:
        return self.call.spec.call_id if self.call is not None else "?"


async def run_call(ctx: Context, ws, adapter: Adapter) -> None:
    """Serves one connection with `adapter` until the call ends; never raises."""
    reader = Reader(ws, ctx.stop)
    stall = StallGuard(ws)
    end = End()
    try:
        end = await _loop(ctx, reader, stall, adapter)
    except ConnectionClosed:  # a reply could not be sent: the client has gone
        end = End("stopped", CLOSE_NORMAL)
    except Exception:
        log.exception("%s connection %s failed", adapter.protocol, getattr(ws, "id", "?"))
        end = End("failed", CLOSE_INTERNAL_ERROR)
    finally:
        reader.close()
        if adapter.call is not None:
            await ctx.close_call(adapter.call, end.status, stall.stalled)
        try:
            await adapter.closed()
        except Exception as error:  # the client left without waiting
            log.debug("%s: after close: %s", adapter.protocol, error)
        await close_quietly(ws, end.code)


async def _loop(ctx: Context, reader: Reader, stall: StallGuard, adapter: Adapter) -> End:
    limits = ctx.limits
    loop = asyncio.get_running_loop()
    open_by = loop.time() + limits.open_timeout_s
    while True:
        # Before the call opens, one deadline from connecting, whatever arrives: a
        # client that never starts a call cannot hold its connection slot.
        if adapter.call is None:
            allowed, timeout = limits.open_timeout_s, max(0.0, open_by - loop.time())
        else:
            allowed = timeout = limits.idle_timeout_s
        message = await reader.next(timeout)
        if is_signal(message):
            return await adapter.interrupted(str(message), allowed)
        try:
            actions = await adapter.handle(message)
        except ProtocolError as error:
            ctx.metrics.rejected.labels(error.reason).inc()
            await adapter.rejected(error)
            if error.fatal:
                return End("failed", CLOSE_POLICY)
            continue
        for action in actions:
            if isinstance(action, Audio):  # nearly every message: no call in between
                call = adapter.call
                assert call is not None, "an adapter sends audio only once its call is open"
                if action.channel is None:
                    await call.push_interleaved(action.data)
                else:
                    await call.push_channel(action.channel, action.data)
            elif isinstance(action, End):
                return action
            else:
                await _act(ctx, stall, adapter, action)


async def _act(ctx: Context, stall: StallGuard, adapter: Adapter, action: Any) -> None:
    """The actions other than audio and the end: opening the call, a gap."""
    if isinstance(action, Open):
        adapter.call = ctx.open_call(action.spec, adapter.emit, stall)
        await adapter.opened(adapter.call)
        return
    call = adapter.call
    assert call is not None, "an adapter reports a gap only once its call is open"
    if isinstance(action, Gap):
        await call.skip(action.seconds)
