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
from streamser.server.session import CallSession, CallSpec
from streamser.server.wire import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    GONE,
    IDLE,
    STOP,
    Context,
    ProtocolError,
    Reader,
    StallGuard,
    check_size,
    close_quietly,
    error_line,
    is_signal,
    parse_json_object,
)

log = logging.getLogger(__name__)

PROTOCOL_SCHEMA = "streamser.protocol/1"
PATH = "/v1/stream"
ENCODINGS = {"s16le": Encoding.PCM_S16, "mulaw": Encoding.MULAW, "alaw": Encoding.ALAW}
RATES_HZ = (8000, 16000, 24000, 32000, 44100, 48000)
MAX_ID_CHARS = 128


def parse_start(message: dict[str, Any], max_channels: int) -> CallSpec:
    """A `start` message -> the call's spec, or ProtocolError naming the bad field."""
    stream_id = message.get("stream_id")
    if not isinstance(stream_id, str) or not 0 < len(stream_id) <= MAX_ID_CHARS:
        raise ProtocolError(f"start: stream_id must be a string of 1..{MAX_ID_CHARS} characters")
    encoding = message.get("encoding", "s16le")
    if encoding not in ENCODINGS:
        raise ProtocolError(f"start: encoding {encoding!r} is not one of {', '.join(ENCODINGS)}")
    rate = message.get("sample_rate")
    if rate not in RATES_HZ:
        raise ProtocolError(
            f"start: sample_rate {rate!r} is not one of {', '.join(map(str, RATES_HZ))}"
        )
    channels = message.get("channels", ["ch0"])
    if (
        not isinstance(channels, list)
        or not 1 <= len(channels) <= max_channels
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


async def run(ctx: Context, ws) -> None:
    """Serves one native connection from handshake to close."""
    limits = ctx.limits
    reader = Reader(ws, ctx.stop)
    session: CallSession | None = None
    status, code = "completed", CLOSE_NORMAL
    stall = StallGuard(ws)

    async def emit(event: Event) -> None:
        await ws.send(event.to_json())

    async def reject(error: ProtocolError) -> None:
        ctx.metrics.rejected.labels(error.reason).inc()
        await ws.send(error_line(str(error)))

    try:
        while True:
            timeout = limits.open_timeout_s if session is None else limits.idle_timeout_s
            message = await reader.next(timeout)
            if is_signal(message, STOP):
                status, code = "stopped", CLOSE_GOING_AWAY
                break
            if is_signal(message, IDLE):
                await ws.send(error_line(f"no message for {timeout:g} s; closing", fatal=True))
                status, code = "stopped", CLOSE_POLICY
                break
            if is_signal(message, GONE):
                status = "stopped"
                break
            try:
                if isinstance(message, bytes):
                    check_size(message, limits.max_message_bytes)
                    if session is None:
                        raise ProtocolError("audio before start; send a start message first")
                    await session.push_interleaved(message)
                    continue
                request = parse_json_object(message, limits.max_message_bytes)
                kind = request.get("type")
                if kind == "start":
                    if session is not None:
                        raise ProtocolError("start: the stream has already started")
                    spec = parse_start(request, limits.max_channels)
                    session = ctx.open_call(spec, emit, stall)
                    await ws.send(json.dumps(_started(ctx, spec)))
                elif kind == "stop":
                    if session is None:
                        raise ProtocolError("stop before start")
                    break
                else:
                    raise ProtocolError(f"unknown message type {kind!r} (expected start or stop)")
            except ProtocolError as error:
                await reject(error)
    finally:
        reader.close()
        if session is not None:
            await ctx.close_call(session, status, stall.stalled)
        await close_quietly(ws, code)


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
