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
  report audio the client left out: the call's clock skips over it (nothing is
  synthesised, so a gap of any length costs nothing) and event times stay on the
  conversation's clock.
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
from streamser.server.call_loop import Action, Adapter, Audio, End, Gap, Open, run_call
from streamser.server.session import CallSession, CallSpec
from streamser.server.wire import (
    CLOSE_POLICY,
    IDLE,
    MULAW_8K,
    STOP,
    Context,
    ProtocolError,
    check_size,
    parse_json_object,
    typed,
)

log = logging.getLogger(__name__)

PATH = "/audiohook"
VERSION = "2"
CHANNEL_STREAMS = {"external": "customer", "internal": "agent"}
MAX_GAP_S = 86400.0
"""Longest stretch of audio a client may report as left out (a day)."""
_DURATION = re.compile(r"PT(\d+(?:\.\d+)?)S")


def parse_duration(text: object) -> float:
    """An ISO 8601 duration in seconds as AudioHook writes them (`PT1.25S`), at most
    `MAX_GAP_S`: no conversation leaves out more."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ProtocolError(f"bad duration {text!r} (expected PT<seconds>S)")
    seconds = float(match.group(1))
    if not seconds <= MAX_GAP_S:
        raise ProtocolError(f"bad duration {text[:40]!r}: more than {MAX_GAP_S:g} s")
    return seconds


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
            and all(isinstance(c, str) and c in CHANNEL_STREAMS for c in channels)
            and len(set(channels)) == len(channels)
        ):
            return {"type": "audio", "format": "PCMU", "channels": channels, "rate": 8000}
    return None


class AudioHookAdapter(Adapter):
    """AudioHook's sequenced messages in and out; results as `event` messages."""

    protocol = "audiohook"

    def __init__(self, ctx: Context, ws) -> None:
        super().__init__(ctx, ws)
        self.session_id = ""
        self.seq = 0
        self.clientseq = 0
        self.paused = False
        self.closing = False
        self._media: dict[str, Any] = {}

    async def handle(self, message: str | bytes) -> list[Action]:
        limits = self.ctx.limits
        if isinstance(message, bytes):
            check_size(message, limits.max_message_bytes)
            if self.call is None:
                raise ProtocolError("audio before open")
            return [] if self.paused else [Audio(message)]
        request = parse_json_object(message, limits.max_message_bytes)
        kind = typed(request, "type", str, "message")
        seq = typed(request, "seq", int, kind, None)
        if seq is not None:
            if seq != self.clientseq + 1:
                log.warning("audiohook %s: seq %s after %s", self.session_id, seq, self.clientseq)
            self.clientseq = seq
        params = typed(request, "parameters", dict, kind, {})
        if self.call is None and kind not in ("open", "ping", "error"):
            raise ProtocolError(f"{kind!r} before open")
        if kind == "open":
            if self.call is not None:
                raise ProtocolError("open: the session is already open")
            return await self._open(request, params)
        if kind == "ping":
            await self.send("pong", {})
        elif kind == "update":
            await self.send("updated", {})
        elif kind in ("paused", "pause"):
            self.paused = True
        elif kind in ("resumed", "resume"):
            self.paused = False
            if "discarded" in params:
                return [Gap(parse_duration(params["discarded"]))]
        elif kind == "discarded":
            return [Gap(parse_duration(params.get("discarded", "PT0S")))]
        elif kind == "close":
            self.closing = True
            return [End()]
        elif kind == "error":
            log.warning("audiohook %s: client error %s", self.session_id, params)
        else:
            raise ProtocolError(f"unknown message type {kind!r}")
        return []

    async def _open(self, request: dict[str, Any], params: dict[str, Any]) -> list[Action]:
        self.session_id = str(request.get("id", ""))
        header_org = self.ws.request.headers.get("Audiohook-Organization-Id")
        if header_org and header_org != params.get("organizationId"):
            await self.send("disconnect", {"reason": "unauthorized"})
            return [End("failed", CLOSE_POLICY)]
        media = choose_media(params.get("media"), self.ctx.limits.max_channels)
        if media is None:
            await self.send(
                "disconnect", {"reason": "error", "info": "no supported media (need PCMU 8000 Hz)"}
            )
            return [End("failed", CLOSE_POLICY)]
        self._media = media
        spec = CallSpec(
            call_id=str(params.get("conversationId") or self.session_id),
            protocol="audiohook",
            channels=tuple(CHANNEL_STREAMS[c] for c in media["channels"]),
            format=MULAW_8K,
            live=True,
        )
        return [Open(spec)]

    async def opened(self, call: CallSession) -> None:
        await self.send("opened", {"media": [self._media], "startPaused": False})

    async def emit(self, event: Event) -> None:
        kind = "streamser.summary" if isinstance(event, SummaryEvent) else "streamser.utterance"
        await self.send("event", {"entities": [{"type": kind, "data": event.to_dict()}]})

    async def interrupted(self, signal: str, timeout_s: float) -> End:
        end = await super().interrupted(signal, timeout_s)
        if signal in (STOP, IDLE):
            # The server ends the session: ask the client to close (AudioHook's
            # `disconnect`), and finish either way.
            try:
                await self.send(
                    "disconnect", {"reason": "completed" if signal == STOP else "error"}
                )
            except Exception as error:  # already gone
                log.debug("disconnect: %s", error)
        return end

    async def closed(self) -> None:
        if self.closing:
            await self.send("closed", {})

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
    await run_call(ctx, ws, AudioHookAdapter(ctx, ws))
