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
from streamser.server.call_loop import Action, Adapter, Audio, End, Open, run_call
from streamser.server.session import CallSpec
from streamser.server.wire import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    MULAW_8K,
    Context,
    ProtocolError,
    close_quietly,
    parse_json_object,
    typed,
)

log = logging.getLogger(__name__)

PATH = "/twilio"
SUBSCRIBE_PREFIX = "/twilio/subscribe/"
TRACK_STREAMS = {"inbound": "customer", "outbound": "agent"}
SUBSCRIBER_QUEUE = 1024
"""Event lines a subscriber may fall behind by before it is dropped (never the call)."""


def parse_start(message: dict[str, Any], max_channels: int) -> tuple[CallSpec, dict[str, Any]]:
    """Twilio's `start` -> (the call's spec, its customParameters)."""
    start = typed(message, "start", dict, "start")
    call_sid = (
        typed(start, "callSid", str, "start", "")
        or typed(start, "streamSid", str, "start", "")
        or typed(message, "streamSid", str, "start", "")
    )
    if not call_sid:
        raise ProtocolError("start: missing callSid")
    media_format = typed(start, "mediaFormat", dict, "start", {})
    encoding = typed(media_format, "encoding", str, "start.mediaFormat", "audio/x-mulaw")
    rate = typed(media_format, "sampleRate", int, "start.mediaFormat", 8000)
    channels = typed(media_format, "channels", int, "start.mediaFormat", 1)
    if (encoding, rate, channels) != ("audio/x-mulaw", 8000, 1):
        raise ProtocolError(f"start: unsupported mediaFormat {media_format!r}")
    tracks = typed(start, "tracks", list, "start", ["inbound"]) or ["inbound"]
    if not all(isinstance(t, str) and t in TRACK_STREAMS for t in tracks):
        raise ProtocolError(f"start: tracks must be inbound and/or outbound, got {tracks!r}")
    tracks = list(dict.fromkeys(tracks))[:max_channels]
    spec = CallSpec(
        call_id=call_sid,
        protocol="twilio",
        channels=tuple(TRACK_STREAMS[t] for t in tracks),
        format=MULAW_8K,
        live=True,
    )
    return spec, typed(start, "customParameters", dict, "start", {})


def parse_media(message: dict[str, Any]) -> tuple[str, bytes]:
    """Twilio's `media` -> (its track, the mu-law bytes)."""
    media = typed(message, "media", dict, "media")
    track = typed(media, "track", str, "media", "inbound")
    payload = typed(media, "payload", str, "media", "")
    try:
        return track, base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("media: payload is not base64") from None


class TwilioAdapter(Adapter):
    """Twilio's events in; results out to the call's subscribers (and, with
    `--twilio-echo`, the media socket). Twilio reads nothing else we send."""

    protocol = "twilio"

    def __init__(self, ctx: Context, ws) -> None:
        super().__init__(ctx, ws)
        self._tracks: dict[str, int] = {}
        # A signed upgrade (checked before the handshake) or the bearer header needs
        # no token parameter.
        options = ctx.options
        self._header_ok = (
            options.token is None
            or options.twilio_auth_token is not None
            or same_secret(bearer_token(ws.request.headers), options.token)
        )
        self._call_id: str | None = None  # set once this stream owns the call SID

    async def handle(self, message: str | bytes) -> list[Action]:
        request = parse_json_object(message, self.ctx.limits.max_message_bytes)
        kind = typed(request, "event", str, "message")
        if self.call is None and kind not in ("connected", "start"):
            # Nothing but the handshake before `start` authenticates the stream.
            raise ProtocolError(f"{kind!r} before start", fatal=True)
        if kind == "media":
            track, payload = parse_media(request)
            index = self._tracks.get(track)
            return [] if index is None else [Audio(payload, channel=index)]
        if kind == "start":
            if self.call is not None:
                raise ProtocolError("start: the stream has already started")
            return self._start(request)
        if kind == "stop":
            return [End()]
        if kind in ("connected", "mark", "dtmf"):
            return []
        raise ProtocolError(f"unknown event {kind!r}")

    def _start(self, request: dict[str, Any]) -> list[Action]:
        spec, params = parse_start(request, self.ctx.limits.max_channels)
        if not self._header_ok and not same_secret(params.get("token"), self.ctx.options.token):
            self.ctx.metrics.refused.labels("auth").inc()
            log.warning("Twilio stream %s refused: no valid token", spec.call_id)
            return [End("failed", CLOSE_POLICY)]
        if spec.call_id in self.ctx.calls:
            self.ctx.metrics.refused.labels("duplicate").inc()
            log.warning("Twilio stream refused: call %s is already streaming", spec.call_id)
            return [End("failed", CLOSE_POLICY)]
        self._tracks = {
            track: spec.channels.index(stream)
            for track, stream in TRACK_STREAMS.items()
            if stream in spec.channels
        }
        self.ctx.calls.add(spec.call_id)
        self._call_id = spec.call_id
        return [Open(spec)]

    async def emit(self, event: Event) -> None:
        line = event.to_json()
        publish(self.ctx, self._call_id or "", line)
        if self.ctx.options.twilio_echo:
            await self.ws.send(line)

    async def closed(self) -> None:
        if self._call_id is not None:
            self.ctx.calls.discard(self._call_id)
            end_subscribers(self.ctx, self._call_id)


async def run(ctx: Context, ws) -> None:
    """Serves one Twilio media stream."""
    await run_call(ctx, ws, TwilioAdapter(ctx, ws))


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
    """Sends a call's events to a subscriber until the call ends. A subscriber whose call
    has not begun within `Limits.idle_timeout_s` (or when the server stops) is closed."""
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=SUBSCRIBER_QUEUE)
    ctx.subscribers.setdefault(call_id, set()).add(queue)
    closed = asyncio.ensure_future(ws.wait_closed())
    stopping = asyncio.ensure_future(ctx.stop.wait())
    code = CLOSE_NORMAL
    loop = asyncio.get_running_loop()
    start_by = loop.time() + ctx.limits.idle_timeout_s
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            waiting = call_id not in ctx.calls and queue.empty()
            done, _ = await asyncio.wait(
                {getter, closed, stopping},
                timeout=max(0.0, start_by - loop.time()) if waiting else None,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:  # the call it waits for has not begun: free the slot
                getter.cancel()
                log.info("subscriber of %s: no such call began; closing", call_id)
                code = CLOSE_POLICY
                break
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
