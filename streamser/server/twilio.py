"""Twilio Media Streams compatible endpoint, and subscribers to a call's events.

Follows Twilio's published WebSocket messages (docs/PROTOCOL.md cites them):
`connected`, then `start` (`streamSid`, `accountSid`, `callSid`, `tracks`,
`customParameters`, `mediaFormat` audio/x-mulaw 8000 Hz mono), `media` (one
track's base64 mu-law `payload` with `track`, `chunk`, `timestamp`), `mark`,
`dtmf` and `stop`. The `inbound` track (the caller) becomes the `customer`
stream and `outbound` the `agent` stream.

Twilio accepts only its own playback messages back on the socket, so results
leave through the event bus like every call's: subscribers of
`/v1/calls/{callSid}/events` (or the older `/twilio/subscribe/{callSid}`),
webhooks and Redis. `--twilio-echo` also sends them on the media socket, for
peers that accept it.

Twilio signs the upgrade request (`X-Twilio-Signature`); with `--twilio-auth-token`
the server accepts only signed streams (checked in `app.py` before the handshake).
Otherwise, when the server has a token, a Twilio stream must carry it as the
custom parameter `token` (a `<Parameter>` of the `<Stream>` TwiML), since Twilio
cannot send headers of our choosing, unless the upgrade had the bearer header.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from streamser.events import Event
from streamser.server.auth import bearer_token, same_secret
from streamser.server.call_loop import Action, Adapter, Audio, End, Open, run_call
from streamser.server.session import CallSpec
from streamser.server.wire import (
    CLOSE_POLICY,
    MULAW_8K,
    Context,
    ProtocolError,
    parse_json_object,
    typed,
)

log = logging.getLogger(__name__)

PATH = "/twilio"
TRACK_STREAMS = {"inbound": "customer", "outbound": "agent"}


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
    """Twilio's events in; results out through the bus (and, with `--twilio-echo`,
    the media socket). Twilio reads nothing else we send."""

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
        # The session has already published the event on the bus.
        if self.ctx.options.twilio_echo:
            await self.ws.send(event.to_json())

    async def closed(self) -> None:
        if self._call_id is not None:
            self.ctx.calls.discard(self._call_id)


async def run(ctx: Context, ws) -> None:
    """Serves one Twilio media stream."""
    await run_call(ctx, ws, TwilioAdapter(ctx, ws))
