"""Twilio Media Streams compatible endpoint, and subscribers to a call's events.

Follows Twilio's published WebSocket messages (docs/PROTOCOL.md cites them):
`connected`, then `start` (`streamSid`, `accountSid`, `callSid`, `tracks`,
`customParameters`, `mediaFormat` audio/x-mulaw 8000 Hz mono), `media` (one
track's base64 mu-law `payload` with `track`, `chunk`, `timestamp`), `mark`,
`dtmf` and `stop`. The `inbound` track (the caller) becomes the `customer`
stream and `outbound` the `agent` stream.

Twilio accepts only its own playback messages back on the socket, so results go
to subscribers: a WebSocket on `/twilio/subscribe/{callSid}` receives the call's
events as JSON lines, the same as the native protocol's. `--twilio-echo` also
sends them on the media socket, for peers that accept it.

Twilio signs the upgrade request (`X-Twilio-Signature`); with `--twilio-auth-token`
the server accepts only signed streams (checked in `app.py` before the handshake).
Otherwise, when the server has a token, a Twilio stream must carry it as the
custom parameter `token` (a `<Parameter>` of the `<Stream>` TwiML), since Twilio
cannot send headers of our choosing, unless the upgrade had the bearer header.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from typing import Any

from streamser.events import Event
from streamser.server.auth import bearer_token, same_secret
from streamser.server.session import CallSession, CallSpec
from streamser.server.wire import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    GONE,
    IDLE,
    MULAW_8K,
    STOP,
    Context,
    ProtocolError,
    Reader,
    close_quietly,
    is_signal,
    parse_json_object,
)

log = logging.getLogger(__name__)

PATH = "/twilio"
SUBSCRIBE_PREFIX = "/twilio/subscribe/"
TRACK_STREAMS = {"inbound": "customer", "outbound": "agent"}
SUBSCRIBER_QUEUE = 1024
"""Event lines a subscriber may fall behind by before it is dropped (never the call)."""


def parse_start(message: dict[str, Any], max_channels: int) -> tuple[CallSpec, dict[str, Any]]:
    """Twilio's `start` -> (the call's spec, its customParameters)."""
    start = message.get("start")
    if not isinstance(start, dict):
        raise ProtocolError("start: missing start object")
    call_sid = start.get("callSid") or start.get("streamSid") or message.get("streamSid")
    if not isinstance(call_sid, str) or not call_sid:
        raise ProtocolError("start: missing callSid")
    media_format = start.get("mediaFormat") or {}
    if (
        media_format.get("encoding", "audio/x-mulaw") != "audio/x-mulaw"
        or int(media_format.get("sampleRate", 8000)) != 8000
        or int(media_format.get("channels", 1)) != 1
    ):
        raise ProtocolError(f"start: unsupported mediaFormat {media_format!r}")
    tracks = start.get("tracks") or ["inbound"]
    if not isinstance(tracks, list) or not all(t in TRACK_STREAMS for t in tracks):
        raise ProtocolError(f"start: tracks must be inbound and/or outbound, got {tracks!r}")
    tracks = list(dict.fromkeys(tracks))[:max_channels]
    spec = CallSpec(
        call_id=call_sid,
        protocol="twilio",
        channels=tuple(TRACK_STREAMS[t] for t in tracks),
        format=MULAW_8K,
        live=True,
    )
    params = start.get("customParameters") or {}
    return spec, params if isinstance(params, dict) else {}


async def run(ctx: Context, ws) -> None:
    """Serves one Twilio media stream."""
    limits = ctx.limits
    reader = Reader(ws, ctx.stop)
    session: CallSession | None = None
    tracks: dict[str, int] = {}
    call_id = ""
    status, code = "completed", CLOSE_NORMAL
    # A signed upgrade (checked before the handshake) or the bearer header needs no
    # token parameter.
    header_ok = (
        ctx.options.token is None
        or ctx.options.twilio_auth_token is not None
        or same_secret(bearer_token(ws.request.headers), ctx.options.token)
    )

    async def emit(event: Event) -> None:
        line = event.to_json()
        publish(ctx, call_id, line)
        if ctx.options.twilio_echo:
            await ws.send(line)

    try:
        while True:
            timeout = limits.open_timeout_s if session is None else limits.idle_timeout_s
            message = await reader.next(timeout)
            if is_signal(message, STOP):
                status, code = "stopped", CLOSE_GOING_AWAY
                break
            if is_signal(message, IDLE):
                status, code = "stopped", CLOSE_POLICY
                break
            if is_signal(message, GONE):
                status = "stopped"
                break
            try:
                request = parse_json_object(message, limits.max_message_bytes)
                kind = request.get("event")
                if kind == "media":
                    if session is None:
                        raise ProtocolError("media before start")
                    media = request.get("media") or {}
                    index = tracks.get(media.get("track", "inbound"))
                    if index is None:
                        continue  # a track the start did not announce
                    try:
                        payload = base64.b64decode(media.get("payload", ""), validate=True)
                    except (binascii.Error, ValueError):
                        raise ProtocolError("media: payload is not base64") from None
                    await session.push_channel(index, payload)
                elif kind == "start":
                    if session is not None:
                        raise ProtocolError("start: the stream has already started")
                    spec, params = parse_start(request, limits.max_channels)
                    if not header_ok and not same_secret(params.get("token"), ctx.options.token):
                        ctx.metrics.refused.labels("auth").inc()
                        log.warning("Twilio stream %s refused: no valid token", spec.call_id)
                        status, code = "failed", CLOSE_POLICY
                        return
                    call_id = spec.call_id
                    tracks = {
                        t: spec.channels.index(s)
                        for t, s in TRACK_STREAMS.items()
                        if s in spec.channels
                    }
                    ctx.calls.add(call_id)
                    session = ctx.open_call(spec, emit)
                elif kind == "stop":
                    break
                elif kind in ("connected", "mark", "dtmf"):
                    log.debug("twilio %s: %s", call_id, kind)
                else:
                    raise ProtocolError(f"unknown event {kind!r}")
            except ProtocolError as error:
                # Twilio reads nothing we send: count it and go on.
                ctx.metrics.rejected.labels(error.reason).inc()
                log.warning("twilio %s: %s", call_id or "?", error)
    finally:
        reader.close()
        if session is not None:
            await ctx.close_call(session, status)
            ctx.calls.discard(call_id)
            end_subscribers(ctx, call_id)
        await close_quietly(ws, code)


def publish(ctx: Context, call_id: str, line: str) -> None:
    """Gives a line to every subscriber of the call; a subscriber that fell behind is dropped."""
    for queue in list(ctx.subscribers.get(call_id, ())):
        try:
            queue.put_nowait(line)
        except asyncio.QueueFull:
            log.warning("subscriber of %s fell %d events behind; dropped", call_id, queue.maxsize)
            ctx.subscribers[call_id].discard(queue)
            _close_queue(queue)


def end_subscribers(ctx: Context, call_id: str) -> None:
    for queue in ctx.subscribers.pop(call_id, set()):
        _close_queue(queue)


def _close_queue(queue: asyncio.Queue[str | None]) -> None:
    while True:
        try:
            queue.put_nowait(None)
            return
        except asyncio.QueueFull:
            queue.get_nowait()


async def subscribe(ctx: Context, ws, call_id: str) -> None:
    """Sends a call's events to a subscriber until the call ends (or it has not begun and
    the server stops)."""
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=SUBSCRIBER_QUEUE)
    ctx.subscribers.setdefault(call_id, set()).add(queue)
    closed = asyncio.ensure_future(ws.wait_closed())
    stopping = asyncio.ensure_future(ctx.stop.wait())
    code = CLOSE_NORMAL
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait(
                {getter, closed, stopping}, return_when=asyncio.FIRST_COMPLETED
            )
            if getter not in done:
                getter.cancel()
                if closed in done:
                    break
                if call_id not in ctx.calls:
                    code = CLOSE_GOING_AWAY  # stopping, and no call to wait for
                    break
                # Stopping while the call runs: its summary and end come through the queue.
                stopping = asyncio.ensure_future(asyncio.Event().wait())
                continue
            line = getter.result()
            if line is None:
                break
            await asyncio.wait_for(ws.send(line), ctx.limits.send_timeout_s)
    except Exception as error:  # a subscriber that broke or stopped reading
        log.info("subscriber of %s: %s", call_id, error)
    finally:
        for task in (closed, stopping):
            task.cancel()
        queues = ctx.subscribers.get(call_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                ctx.subscribers.pop(call_id, None)
        await close_quietly(ws, code)
