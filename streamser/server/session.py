"""The session core: one call's channels, segmenters and ordered events, whatever the protocol.

An adapter (native, Twilio, AudioHook) parses its wire format and calls
`push_interleaved`, `push_channel` and `finish`; the core converts audio to the
canonical stream, segments each channel in the event loop (webrtcvad costs
microseconds a frame), hands utterances to the shared `InferencePool` and gives
the adapter's `emit` every event in order: per channel by `seq`, and across the
call in the order the utterances closed.

Bounds: each channel has a fixed ring; at most
`limits.max_pending_utterances` events wait per call. A call that can slow down
(`live=False`, the native protocol) waits for room, so the server stops reading
its socket and TCP pushes back; a live call (a platform forking a phone call)
turns the oldest excess utterance into a `dropped` event instead. A client that
stops reading its events for `limits.send_timeout_s` is given up on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamser.audio import AudioFormat, StreamConverter
from streamser.audio.formats import decode_samples
from streamser.constants import SAMPLE_RATE_HZ
from streamser.events import Event, LatencyStats, SummaryEvent, UtteranceEvent
from streamser.recognizer import RecognizerOptions
from streamser.server.options import Limits
from streamser.server.pool import InferencePool
from streamser.stream import Job, StreamFront
from streamser.vad import make_vad
from streamser.worker import LATENCY_WINDOW

log = logging.getLogger(__name__)

Emit = Callable[[Event], Awaitable[None]]
_END = object()


@dataclass(frozen=True)
class CallSpec:
    """What a call carries, as its protocol's handshake declared it.

    Attributes:
        call_id: The platform's id for the call (stream id, call SID, conversation id).
        protocol: "native", "twilio" or "audiohook".
        channels: Stream names, one per channel, in channel order (roles such as
            "agent" and "customer").
        format: Native format of one channel's audio (its `channels` is 1);
            interleaved frames carry `len(channels)` of these.
        live: The sender cannot slow down (a platform forking a live call).
    """

    call_id: str
    protocol: str
    channels: tuple[str, ...]
    format: AudioFormat
    live: bool

    def describe(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "channels": list(self.channels),
            "encoding": self.format.encoding.value,
            "sample_rate": self.format.sample_rate_hz,
            "live": self.live,
        }


class _Channel:
    def __init__(self, index: int, name: str, spec: CallSpec, options: RecognizerOptions) -> None:
        self.front = StreamFront(
            index,
            name,
            make_vad(options.segmenter.vad),
            options.segmenter,
            int(options.ring_s * SAMPLE_RATE_HZ),
        )
        self.converter = StreamConverter(spec.format, name=f"{spec.call_id}/{name}")
        self.remainder = b""


class CallSession:
    """One call from handshake to summary.

    Args:
        spec: The call's channels and format.
        pool: The shared inference pool.
        options: Recognizer settings shared by every call of the server.
        limits: Per-call bounds.
        emit: Sends one event to wherever this protocol's results go.
        on_stall: Called once when the client stops reading its events.
    """

    def __init__(
        self,
        spec: CallSpec,
        pool: InferencePool,
        options: RecognizerOptions,
        limits: Limits,
        emit: Emit,
        on_stall: Callable[[], None] | None = None,
    ) -> None:
        self.spec = spec
        self.pool = pool
        self.options = options
        self.limits = limits
        self._emit = emit
        self._on_stall = on_stall
        self.channels = [_Channel(i, n, spec, options) for i, n in enumerate(spec.channels)]
        self._started = time.monotonic()
        self._out: asyncio.Queue[object] = asyncio.Queue()
        self._slots = asyncio.Semaphore(limits.max_pending_utterances)
        self._in_flight = 0
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.client_gone = False
        self.events_sent = 0
        self.summary: SummaryEvent | None = None
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    async def push_interleaved(self, data: bytes) -> None:
        """Interleaved frames of every channel, in the call's format (any byte count)."""
        count = len(self.channels)
        first = self.channels[0]
        data = first.remainder + bytes(data)
        frame_bytes = self.spec.format.bytes_per_frame * count
        whole = len(data) - len(data) % frame_bytes
        first.remainder = data[whole:]
        if whole == 0:
            return
        fmt = AudioFormat(self.spec.format.sample_rate_hz, count, self.spec.format.encoding)
        block = decode_samples(data[:whole], fmt)
        for index in range(count):
            await self._feed(index, block[:, index : index + 1])

    async def push_channel(self, index: int, data: bytes) -> None:
        """One channel's audio alone (Twilio sends each track in its own messages)."""
        channel = self.channels[index]
        data = channel.remainder + bytes(data)
        whole = len(data) - len(data) % self.spec.format.bytes_per_frame
        channel.remainder = data[whole:]
        if whole:
            await self._feed(index, decode_samples(data[:whole], self.spec.format))

    async def finish(self, status: str = "completed", error: str | None = None) -> SummaryEvent:
        """End of the call: closes open utterances, waits for every event, sends the summary.

        Safe to call more than once; later calls return the first summary.
        """
        if self.summary is not None:
            return self.summary
        arrived = time.monotonic()
        for channel in self.channels:
            tail = channel.converter.flush()[0]
            if len(tail):
                await self._submit(channel, channel.front.process(tail, arrived))
            await self._submit(channel, channel.front.flush(arrived))
        await self._out.put(_END)
        await self._sender
        self.summary = self._summary(status, error)
        await self._send(self.summary)
        return self.summary

    @property
    def pending(self) -> int:
        """Utterances segmented whose events have not been sent yet."""
        return self._in_flight

    async def _feed(self, index: int, block: np.ndarray) -> None:
        channel = self.channels[index]
        samples = channel.converter.process(block)[0]
        if len(samples):
            await self._submit(channel, channel.front.process(samples, time.monotonic()))

    async def _submit(self, channel: _Channel, jobs: list[Job]) -> None:
        loop = asyncio.get_running_loop()
        for job in jobs:
            if self.spec.live and self._in_flight >= self.limits.max_pending_utterances:
                dropped = Job(job.stream, job.seq, job.span, job.arrived, dropped="overrun")
                future: asyncio.Future[UtteranceEvent] = loop.create_future()
                future.set_result(self.pool.handle_now(dropped, channel.front))
            else:
                if not self.spec.live:
                    await self._slots.acquire()
                future = asyncio.wrap_future(self.pool.submit(job, channel.front))
            self._in_flight += 1
            await self._out.put(future)

    async def _send_loop(self) -> None:
        while True:
            item = await self._out.get()
            if item is _END:
                return
            assert isinstance(item, asyncio.Future)
            try:
                event = await item
            finally:
                self._in_flight -= 1
                if not self.spec.live:
                    self._slots.release()
            if event.status != "dropped":
                self._latencies.append(event.latency_ms)
            await self._send(event)

    async def _send(self, event: Event) -> None:
        if self.client_gone:
            return
        try:
            await asyncio.wait_for(self._emit(event), self.limits.send_timeout_s)
            self.events_sent += 1
        except TimeoutError:
            log.warning(
                "call %s: client has not read its events for %.0f s; giving up on it",
                self.spec.call_id,
                self.limits.send_timeout_s,
            )
            self.client_gone = True
            if self._on_stall is not None:
                self._on_stall()
        except Exception as error:  # the connection went away: keep draining, stop sending
            log.info("call %s: cannot send events (%s)", self.spec.call_id, error)
            self.client_gone = True

    def _summary(self, status: str, error: str | None) -> SummaryEvent:
        elapsed = time.monotonic() - self._started
        streams = {c.front.name: c.front.snapshot() for c in self.channels}
        audio_s = max((c.audio_s for c in streams.values()), default=0.0)
        return SummaryEvent(
            status=status,  # type: ignore[arg-type]
            source=self.spec.call_id,
            streams=streams,
            elapsed_s=elapsed,
            realtime_factor=elapsed / audio_s if audio_s else None,
            latency_ms=_latency(self._latencies),
            model={"name": self.pool.model.metadata.name, "sha256": self.pool.model.short_sha},
            options={
                "call": self.spec.describe(),
                "segmenter": self.options.segmenter.to_dict(),
                "ood": self.pool.worker.gate.describe(),
                "ring_s": self.options.ring_s,
            },
            error=error,
        )


def _latency(values: deque[float]) -> LatencyStats:
    if not values:
        return LatencyStats(count=0, p50=None, p95=None, max=None)
    array = np.fromiter(values, dtype=np.float64)
    p50, p95 = np.percentile(array, [50, 95])
    return LatencyStats(count=len(array), p50=float(p50), p95=float(p95), max=float(array.max()))
