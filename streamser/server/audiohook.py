"""Genesys Cloud AudioHook compatible endpoint (protocol version 2).

Follows the AudioHook protocol documentation and Genesys's reference
implementation (docs/PROTOCOL.md cites both). Every text message carries
`version` "2", `id` (the session), `type`, `seq` and `parameters`; client
messages add `serverseq` and `position`, server messages `clientseq`.

- `open` (media offers) -> `opened` with the chosen medium: PCMU at 8000 Hz,
  channels `external` (the customer) and/or `internal` (the agent), interleaved
  in binary frames in the listed order. No acceptable offer -> `disconnect`.
- `ping` -> `pong`; `update` -> `updated`; `paused`/`resumed` (also accepted as
  `pause`/`resume`): while paused no audio is expected; `resumed` and `discarded`
  report audio the client left out, which is replaced by silence so event times
  stay on the conversation's clock.
- Results go back as `event` messages, one entity per utterance
  (`streamser.utterance`, data: the native event) and a `streamser.summary`
  entity when the client sends `close`; then `closed`.
- Authentication happens at the upgrade (`streamser.server.auth`).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from streamser.events import Event, SummaryEvent
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
    StallGuard,
    check_size,
    close_quietly,
    is_signal,
    parse_json_object,
)

log = logging.getLogger(__name__)

PATH = "/audiohook"
VERSION = "2"
CHANNEL_STREAMS = {"external": "customer", "internal": "agent"}
MAX_FILL_S = 600.0
"""Longest stretch of discarded audio replaced by silence at once."""
_DURATION = re.compile(r"PT(\d+(?:\.\d+)?)S")


def parse_duration(text: object) -> float:
    """An ISO 8601 duration in seconds as AudioHook writes them (`PT1.25S`)."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ProtocolError(f"bad duration {text!r} (expected PT<seconds>S)")
    return float(match.group(1))


def choose_media(offers: object, max_channels: int) -> dict[str, Any] | None:
    """The first offer we can take: audio, PCMU, 8000 Hz, external/internal channels."""
    if not isinstance(offers, list):
        return None
    for offer in offers:
        if not isinstance(offer, dict):
            continue
        channels = offer.get("channels")
        if (
            offer.get("type") == "audio"
            and offer.get("format") == "PCMU"
            and offer.get("rate") == 8000
            and isinstance(channels, list)
            and 1 <= len(channels) <= max_channels
            and all(c in CHANNEL_STREAMS for c in channels)
            and len(set(channels)) == len(channels)
        ):
            return {"type": "audio", "format": "PCMU", "channels": channels, "rate": 8000}
    return None


class _Link:
    """The server side of one AudioHook session's message sequencing."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.session_id = ""
        self.seq = 0
        self.clientseq = 0

    async def send(self, kind: str, parameters: dict[str, Any]) -> None:
        self.seq += 1
        message = {
            "version": VERSION,
            "id": self.session_id,
            "type": kind,
            "seq": self.seq,
            "clientseq": self.clientseq,
            "parameters": parameters,
        }
        await self.ws.send(json.dumps(message, separators=(",", ":"), allow_nan=False))


async def run(ctx: Context, ws) -> None:
    """Serves one AudioHook session."""
    limits = ctx.limits
    reader = Reader(ws, ctx.stop)
    link = _Link(ws)
    session: CallSession | None = None
    paused = False
    status, code = "completed", CLOSE_NORMAL
    stall = StallGuard(ws)
    closing = False

    async def emit(event: Event) -> None:
        kind = "streamser.summary" if isinstance(event, SummaryEvent) else "streamser.utterance"
        await link.send("event", {"entities": [{"type": kind, "data": event.to_dict()}]})

    async def fill(seconds: float) -> None:
        if session is None or seconds <= 0:
            return
        frames = int(min(seconds, MAX_FILL_S) * MULAW_8K.sample_rate_hz)
        silence = b"\xff" * (frames * len(session.channels))  # PCMU code of zero
        await session.push_interleaved(silence)

    try:
        while True:
            timeout = limits.open_timeout_s if session is None else limits.idle_timeout_s
            message = await reader.next(timeout)
            if is_signal(message, STOP) or is_signal(message, IDLE):
                # The server ends the session: ask the client to close (AudioHook's
                # `disconnect`), and finish either way.
                status = "stopped"
                code = CLOSE_GOING_AWAY if is_signal(message, STOP) else CLOSE_POLICY
                reason = "completed" if is_signal(message, STOP) else "error"
                try:
                    await link.send("disconnect", {"reason": reason})
                except Exception as error:  # already gone
                    log.debug("disconnect: %s", error)
                break
            if is_signal(message, GONE):
                status = "stopped"
                break
            try:
                if isinstance(message, bytes):
                    check_size(message, limits.max_message_bytes)
                    if session is None:
                        raise ProtocolError("audio before open")
                    if not paused:
                        await session.push_interleaved(message)
                    continue
                request = parse_json_object(message, limits.max_message_bytes)
                seq = request.get("seq")
                if isinstance(seq, int):
                    if seq != link.clientseq + 1:
                        log.warning(
                            "audiohook %s: seq %s after %s", link.session_id, seq, link.clientseq
                        )
                    link.clientseq = seq
                kind = request.get("type")
                params = request.get("parameters") or {}
                if kind == "open":
                    if session is not None:
                        raise ProtocolError("open: the session is already open")
                    link.session_id = str(request.get("id", ""))
                    header_org = ws.request.headers.get("Audiohook-Organization-Id")
                    if header_org and header_org != params.get("organizationId"):
                        await link.send("disconnect", {"reason": "unauthorized"})
                        status, code = "failed", CLOSE_POLICY
                        break
                    media = choose_media(params.get("media"), limits.max_channels)
                    if media is None:
                        await link.send(
                            "disconnect",
                            {"reason": "error", "info": "no supported media (need PCMU 8000 Hz)"},
                        )
                        status, code = "failed", CLOSE_POLICY
                        break
                    spec = CallSpec(
                        call_id=str(params.get("conversationId") or link.session_id),
                        protocol="audiohook",
                        channels=tuple(CHANNEL_STREAMS[c] for c in media["channels"]),
                        format=MULAW_8K,
                        live=True,
                    )
                    session = ctx.open_call(spec, emit, stall)
                    await link.send("opened", {"media": [media], "startPaused": False})
                elif kind == "ping":
                    await link.send("pong", {})
                elif kind == "update":
                    await link.send("updated", {})
                elif kind in ("paused", "pause"):
                    paused = True
                elif kind in ("resumed", "resume"):
                    paused = False
                    if "discarded" in params:
                        await fill(parse_duration(params["discarded"]))
                elif kind == "discarded":
                    await fill(parse_duration(params.get("discarded", "PT0S")))
                elif kind == "close":
                    closing = True
                    break
                elif kind == "error":
                    log.warning("audiohook %s: client error %s", link.session_id, params)
                else:
                    raise ProtocolError(f"unknown message type {kind!r}")
            except ProtocolError as error:
                ctx.metrics.rejected.labels(error.reason).inc()
                log.warning("audiohook %s: %s", link.session_id or "?", error)
    finally:
        reader.close()
        if session is not None:
            await ctx.close_call(session, status, stall.stalled)
        if closing:
            try:
                await link.send("closed", {})
            except Exception as error:  # the client left without waiting
                log.debug("closed: %s", error)
        await close_quietly(ws, code)
