"""The session core: one call's channels, segmenters and ordered events, whatever the protocol.

An adapter (native, Twilio, AudioHook) parses its wire format and calls
`push_interleaved`, `push_channel` and `finish`; the core converts audio to the
canonical stream, segments each channel in the event loop (webrtcvad costs
microseconds a frame), hands utterances to the shared `InferencePool` and gives
the adapter's `emit` every event in order: per channel by `seq`, and across the
call in the order the utterances closed. Each event is first handed to `publish`
(the event bus: subscribers, webhooks, Redis), so results leave the call even
when its own client reads nothing back.

Bounds: each channel has a fixed ring; at most `limits.max_pending_utterances`
events wait per call. A call that can slow down (`live=False`, the native
protocol) waits for room in its ring and for a free slot, so the server stops
reading its socket and TCP pushes back: nothing is lost whatever the message
size. A live call (a platform forking a phone call) cannot wait: past the bound
its oldest utterance not yet being recognised becomes a `dropped` event, the same
rule `listen` applies to a microphone. A client that stops reading its events for
`limits.send_timeout_s` is given up on.

Counting, latency and the summary belong to the call's `StreamSet`, shared with
`listen` and the Python API.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from streamser.audio import AudioFormat, ChannelMode, StreamConverter
from streamser.audio.formats import decode_samples
from streamser.constants import SAMPLE_RATE_HZ
from streamser.events import Event, InputInfo, SummaryEvent, UtteranceEvent
from streamser.server.options import Limits
from streamser.server.pool import InferencePool
from streamser.stream import Job, StreamFront
from streamser.streams import RecognizerOptions, RunStatus, StreamSet

log = logging.getLogger(__name__)

Emit = Callable[[Event], Awaitable[None]]
_END = object()

FEED_SAMPLES = SAMPLE_RATE_HZ
"""A non-live call's audio enters its ring at most a second at a time, each piece
waiting for room, so a message of any size cannot overwrite pending utterances."""


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

    @property
    def input(self) -> InputInfo:
        return InputInfo(self.protocol, self.live, self.format.describe())


class _Channel:
    """One channel's stream; its own converter only for audio sent per channel."""

    def __init__(self, front: StreamFront, spec: CallSpec) -> None:
        self.front = front
        self.spec = spec
        self._converter: StreamConverter | None = None
        self.remainder = b""

    @property
    def converter(self) -> StreamConverter:
        if self._converter is None:
            name = f"{self.spec.call_id}/{self.front.name}"
            self._converter = StreamConverter(self.spec.format, name=name)
        return self._converter

    def flush(self) -> np.ndarray | None:
        return None if self._converter is None else self._converter.flush()[0]


class _Pending:
    """An utterance between segmenter and client: queued or running in the pool
    (`future`), or already decided here (`event`: a dropped one)."""

    __slots__ = ("event", "front", "future", "job")

    def __init__(self, job: Job, front: StreamFront, future: Future[UtteranceEvent]) -> None:
        self.job = job
        self.front = front
        self.future = future
        self.event: UtteranceEvent | None = None


class CallSession:
    """One call from handshake to summary.

    Args:
        spec: The call's channels and format.
        pool: The shared inference pool.
        options: Recognizer settings shared by every call of the server.
        limits: Per-call bounds.
        emit: Sends one event to wherever this protocol's results go.
        on_stall: Called once when the client stops reading its events.
        publish: Takes every event, in the same order, before `emit`, whether or not
            the client still reads them (the event bus: subscribers and webhooks).
            It must not wait.
    """

    def __init__(
        self,
        spec: CallSpec,
        pool: InferencePool,
        options: RecognizerOptions,
        limits: Limits,
        emit: Emit,
        on_stall: Callable[[], None] | None = None,
        publish: Callable[[Event], None] | None = None,
    ) -> None:
        self.spec = spec
        self.pool = pool
        self.limits = limits
        self._emit: Emit | None = emit
        self._on_stall = on_stall
        self._publish = publish
        self.streams = StreamSet(spec.call_id, spec.channels, pool.worker, options, spec.input)
        self.channels = [_Channel(front, spec) for front in self.streams.fronts]
        count = len(self.channels)
        self._interleaved = AudioFormat(spec.format.sample_rate_hz, count, spec.format.encoding)
        self._frame_bytes = spec.format.bytes_per_frame * count
        self._interleaved_converter: StreamConverter | None = None
        self._remainder = b""
        self._out: asyncio.Queue[object] = asyncio.Queue()
        self._unsent: deque[_Pending] = deque()
        self._progress = asyncio.Event()
        self.client_gone = False
        self.events_sent = 0
        self.summary: SummaryEvent | None = None
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    async def push_interleaved(self, data: bytes) -> None:
        """Interleaved frames of every channel, in the call's format (any byte count).

        One vectorised step per message for every channel at once: decode the whole
        frames, resample all channels in one multi-channel resampler (the same output
        as one per channel), convert to int16, then segment each channel's samples.
        """
        if self._remainder:
            data = self._remainder + bytes(data)
        whole = len(data) - len(data) % self._frame_bytes
        self._remainder = bytes(data[whole:]) if whole < len(data) else b""
        if whole == 0:
            return
        block = decode_samples(data[:whole] if whole < len(data) else data, self._interleaved)
        converted = self._converter().process(block)
        if self.spec.live:
            arrived = time.monotonic()
            for channel, samples in zip(self.channels, converted, strict=True):
                if len(samples):
                    jobs = channel.front.process(samples, arrived)
                    if jobs:
                        await self._submit(channel, jobs)
            return
        for index, samples in enumerate(converted):
            await self._feed(index, samples)

    async def push_channel(self, index: int, data: bytes) -> None:
        """One channel's audio alone (Twilio sends each track in its own messages)."""
        channel = self.channels[index]
        data = channel.remainder + bytes(data)
        whole = len(data) - len(data) % self.spec.format.bytes_per_frame
        channel.remainder = data[whole:]
        if whole:
            block = decode_samples(data[:whole], self.spec.format)
            await self._feed(index, channel.converter.process(block)[0])

    async def skip(self, seconds: float) -> None:
        """Audio the client left out: every channel's clock moves on by `seconds`."""
        arrived = time.monotonic()
        self._remainder = b""
        for channel in self.channels:
            channel.remainder = b""
            jobs = channel.front.skip(round(seconds * SAMPLE_RATE_HZ), arrived)
            await self._submit(channel, jobs)

    async def finish(
        self, status: RunStatus = "completed", error: str | None = None
    ) -> SummaryEvent:
        """End of the call: closes open utterances, waits for every event, sends the summary.

        Safe to call more than once; later calls return the first summary.
        """
        if self.summary is not None:
            return self.summary
        arrived = time.monotonic()
        tails = self._interleaved_converter.flush() if self._interleaved_converter else None
        for index, channel in enumerate(self.channels):
            for tail in (tails[index] if tails else None, channel.flush()):
                if tail is not None and len(tail):
                    await self._submit(channel, channel.front.process(tail, arrived))
            await self._submit(channel, channel.front.flush(arrived))
        await self._out.put(_END)
        await self._sender
        self.summary = self.streams.summary(status, error=error)
        await self._send(self.summary)
        self._release()
        return self.summary

    @property
    def pending(self) -> int:
        """Utterances segmented whose events have not been sent yet."""
        return len(self._unsent)

    def _converter(self) -> StreamConverter:
        """The one converter of interleaved audio: every channel, one resampler."""
        if self._interleaved_converter is None:
            self._interleaved_converter = StreamConverter(
                self._interleaved, ChannelMode("split"), name=self.spec.call_id
            )
        return self._interleaved_converter

    async def _feed(self, index: int, samples: np.ndarray) -> None:
        """Canonical samples of one channel into its stream."""
        channel = self.channels[index]
        if self.spec.live:
            if len(samples):
                await self._submit(channel, channel.front.process(samples, time.monotonic()))
            return
        for offset in range(0, len(samples), FEED_SAMPLES):
            piece = samples[offset : offset + FEED_SAMPLES]
            while channel.front.ring.room() < len(piece):
                await self._wait_for_progress()
            await self._submit(channel, channel.front.process(piece, time.monotonic()))

    async def _submit(self, channel: _Channel, jobs: list[Job]) -> None:
        for job in jobs:
            if self.spec.live:
                self._make_room()
            else:
                while len(self._unsent) >= self.limits.max_pending_utterances:
                    await self._wait_for_progress()
            pending = _Pending(job, channel.front, self.pool.submit(job, channel.front))
            self._unsent.append(pending)
            await self._out.put(pending)

    def _make_room(self) -> None:
        """A live call at its bound drops its oldest utterance the pool has not started."""
        if len(self._unsent) < self.limits.max_pending_utterances:
            return
        for pending in self._unsent:
            if pending.event is None and pending.future.cancel():
                pending.event = self.pool.handle_now(
                    replace(pending.job, dropped="overrun"), pending.front
                )
                return

    async def _wait_for_progress(self) -> None:
        self._progress.clear()
        await self._progress.wait()

    async def _send_loop(self) -> None:
        while True:
            item = await self._out.get()
            if item is _END:
                return
            assert isinstance(item, _Pending)
            event = await self._outcome(item)
            self._unsent.popleft()
            self._progress.set()
            await self._send(self.streams.record(event))

    @staticmethod
    async def _outcome(pending: _Pending) -> UtteranceEvent:
        if pending.event is None:
            try:
                return await asyncio.wrap_future(pending.future)
            except asyncio.CancelledError:
                if pending.event is None:  # this task itself is being cancelled
                    raise
        return pending.event

    def _release(self) -> None:
        """Lets go of the connection once the summary is out.

        The adapter holds its session and the session held the adapter's `emit`: a
        reference cycle, which only Python's cyclic garbage collector frees, and a call
        that has lasted minutes sits in its oldest generation, collected only on its
        occasional full passes. Until then the call's rings (about 1 MB per channel at
        the server's 30 s) and its connection stay allocated: as many ended calls as
        calls in progress piled up that way, and the server's memory grew in steps of
        their rings (docs/RELIABILITY.md, "Soak"). Without the cycle a call is freed
        when its connection ends.
        """
        self._emit = None
        self._on_stall = None
        self._publish = None

    async def _send(self, event: Event) -> None:
        if self._publish is not None:
            self._publish(event)
        if self.client_gone or self._emit is None:
            return
        try:
            # Not `wait_for`: on Python 3.11 it runs the send as a task of its own,
            # and a failed send's exception, its traceback and that task form a cycle
            # through this frame, which would keep the ended call in memory.
            async with asyncio.timeout(self.limits.send_timeout_s):
                await self._emit(event)
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
