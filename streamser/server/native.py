"""The native streamser protocol (docs/PROTOCOL.md): `start`, binary audio, `stop`.

The server answers `start` with `started`, then sends the same events as
`streamser listen --format jsonl` (one JSON text message each), per channel in
order, and a `summary` after `stop`; then it closes the connection (1000).
Protocol errors come back as `error` events; unless `fatal`, the call goes on.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from streamser.audio import AudioFormat, Encoding
from streamser.events import Event
from streamser.server.call_loop import Action, Adapter, Audio, End, Open, run_call
from streamser.server.session import CallSession, CallSpec
from streamser.server.wire import (
    CLOSE_POLICY,
    IDLE,
    Context,
    ProtocolError,
    check_size,
    error_line,
    parse_json_object,
    typed,
)

log = logging.getLogger(__name__)

PROTOCOL_SCHEMA = "streamser.protocol/1"
PATH = "/v1/stream"
ENCODINGS = {"s16le": Encoding.PCM_S16, "mulaw": Encoding.MULAW, "alaw": Encoding.ALAW}
RATES_HZ = (8000, 16000, 24000, 32000, 44100, 48000)
MAX_ID_CHARS = 128


def parse_start(message: dict[str, Any], max_channels: int) -> CallSpec:
    """A `start` message -> the call's spec, or ProtocolError naming the bad field."""
    stream_id = typed(message, "stream_id", str, "start")
    if not 0 < len(stream_id) <= MAX_ID_CHARS:
        raise ProtocolError(f"start: stream_id must be a string of 1..{MAX_ID_CHARS} characters")
    encoding = typed(message, "encoding", str, "start", "s16le")
    if encoding not in ENCODINGS:
        raise ProtocolError(f"start: encoding {encoding!r} is not one of {', '.join(ENCODINGS)}")
    rate = typed(message, "sample_rate", int, "start")
    if rate not in RATES_HZ:
        raise ProtocolError(
            f"start: sample_rate {rate!r} is not one of {', '.join(map(str, RATES_HZ))}"
        )
    channels = typed(message, "channels", list, "start", ["ch0"])
    if (
        not 1 <= len(channels) <= max_channels
        or not all(isinstance(c, str) and 0 < len(c) <= MAX_ID_CHARS for c in channels)
        or len(set(channels)) != len(channels)
    ):
        raise ProtocolError(
            f"start: channels must be 1..{max_channels} distinct names such as "
            '["agent", "customer"]'
        )
    return CallSpec(
        call_id=stream_id,
        protocol="native",
        channels=tuple(channels),
        format=AudioFormat(rate, 1, ENCODINGS[encoding]),
        live=False,
    )


class NativeAdapter(Adapter):
    """`start` (JSON), binary audio, `stop`; every event and error goes back as a line."""

    protocol = "native"

    async def handle(self, message: str | bytes) -> list[Action]:
        limits = self.ctx.limits
        if isinstance(message, bytes):
            check_size(message, limits.max_message_bytes)
            if self.call is None:
                raise ProtocolError("audio before start; send a start message first")
            return [Audio(message)]
        request = parse_json_object(message, limits.max_message_bytes)
        kind = typed(request, "type", str, "message")
        if kind == "start":
            if self.call is not None:
                raise ProtocolError("start: the stream has already started")
            return [Open(parse_start(request, limits.max_channels))]
        if kind == "stop":
            if self.call is None:
                raise ProtocolError("stop before start")
            return [End()]
        raise ProtocolError(f"unknown message type {kind!r} (expected start or stop)")

    async def emit(self, event: Event) -> None:
        await self.ws.send(event.to_json())

    async def opened(self, call: CallSession) -> None:
        await self.ws.send(json.dumps(_started(self.ctx, call.spec)))

    async def rejected(self, error: ProtocolError) -> None:
        await self.ws.send(error_line(str(error), fatal=error.fatal))

    async def interrupted(self, signal: str, timeout_s: float) -> End:
        if signal == IDLE:
            await self.ws.send(error_line(f"no message for {timeout_s:g} s; closing", fatal=True))
            return End("stopped", CLOSE_POLICY)
        return await super().interrupted(signal, timeout_s)


async def run(ctx: Context, ws) -> None:
    """Serves one native connection from handshake to close."""
    await run_call(ctx, ws, NativeAdapter(ctx, ws))


def _started(ctx: Context, spec: CallSpec) -> dict[str, Any]:
    model = ctx.pool.model
    return {
        "schema": PROTOCOL_SCHEMA,
        "type": "started",
        "stream_id": spec.call_id,
        "channels": list(spec.channels),
        "model": {"name": model.metadata.name, "sha256": model.short_sha},
        "labels": list(model.labels),
        "max_message_bytes": ctx.limits.max_message_bytes,
    }
