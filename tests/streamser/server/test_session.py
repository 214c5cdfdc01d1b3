"""The call loop without sockets: back-pressure for calls that can wait, the drop rule
for live ones, and accounting either way."""

from __future__ import annotations

import asyncio
import copy
import time

import numpy as np
import pytest
from support.speech import conversation, to_int16

from streamser.audio import AudioFormat, Encoding
from streamser.events import SummaryEvent, UtteranceEvent
from streamser.ood import OodOptions
from streamser.segmenter import SegmenterOptions
from streamser.server.options import Limits
from streamser.server.pool import InferencePool
from streamser.server.session import CallSession, CallSpec
from streamser.streams import RecognizerOptions
from streamser.worker import Worker

PCM_16K = AudioFormat(16000, 1, Encoding.PCM_S16)


def slowed(model, delay_s: float):
    """The same model with every inference delayed: a pool that cannot keep up."""
    slow = copy.copy(model)

    def infer(waveform, speaker=None):
        time.sleep(delay_s)
        return model.infer(waveform, speaker)

    slow.infer = infer
    return slow


def run_call(model, audio, *, live: bool, message_s: float, limits: Limits, ring_s: float):
    """Pushes `audio` as fast as the session takes it; returns every event it emitted."""
    options = RecognizerOptions(
        segmenter=SegmenterOptions(max_utterance_ms=8000), ring_s=ring_s, stats_interval_s=0
    )
    spec = CallSpec("call-1", "native", ("ch0",), PCM_16K, live=live)
    data = to_int16(audio).tobytes()
    step = int(message_s * 16000) * 2

    async def main():
        pool = InferencePool(Worker.for_model(model, OodOptions()), threads=1)
        events = []

        async def emit(event):
            events.append(event)

        session = CallSession(spec, pool, options, limits, emit)
        for offset in range(0, len(data), step):
            await session.push_interleaved(data[offset : offset + step])
        await session.finish()
        await asyncio.get_running_loop().run_in_executor(None, pool.close)
        return events

    return asyncio.run(main())


def utterances(events) -> list[UtteranceEvent]:
    return [e for e in events if isinstance(e, UtteranceEvent)]


@pytest.mark.parametrize("message_s", [0.1, 1.0, 2.0])
def test_a_call_that_can_wait_loses_nothing_whatever_its_message_size(loaded_model, message_s):
    # Four pending 7.5 s utterances (30 s) do not fit a 10 s ring: the session must
    # hold the audio back until the pool has read what it needs.
    audio = conversation([7.5] * 5, gap_s=0.6)
    events = run_call(
        slowed(loaded_model, 0.2),
        audio,
        live=False,
        message_s=message_s,
        limits=Limits(max_pending_utterances=4),
        ring_s=10.0,
    )
    mine = utterances(events)
    summary = events[-1]
    assert isinstance(summary, SummaryEvent)
    assert [e.seq for e in mine] == list(range(5))
    assert [e.status for e in mine if e.status == "dropped"] == []
    assert summary.totals.segmented == 5 and summary.totals.dropped == 0


def test_a_live_call_that_falls_behind_drops_its_oldest_waiting_utterance(loaded_model):
    audio = conversation([1.0] * 8, gap_s=0.6)
    events = run_call(
        slowed(loaded_model, 0.4),
        audio,
        live=True,
        message_s=0.5,
        limits=Limits(max_pending_utterances=2),
        ring_s=30.0,
    )
    mine = utterances(events)
    statuses = [e.status for e in mine]
    assert [e.seq for e in mine] == list(range(8))  # every utterance once, in order
    assert "dropped" in statuses
    # the newest utterance is the one a live caller cares about: never the one given up
    assert statuses[-1] != "dropped" and statuses[0] != "dropped"
    assert {e.reason for e in mine if e.status == "dropped"} == {"overrun"}
    summary = events[-1]
    assert summary.totals.dropped == statuses.count("dropped")
    assert summary.totals.segmented == summary.totals.ok + summary.totals.uncertain + (
        summary.totals.dropped
    )


def test_dropped_utterances_do_not_enter_the_latency_record(loaded_model):
    audio = conversation([1.0] * 8, gap_s=0.6)
    events = run_call(
        slowed(loaded_model, 0.4),
        audio,
        live=True,
        message_s=0.5,
        limits=Limits(max_pending_utterances=2),
        ring_s=30.0,
    )
    recognised = [e for e in utterances(events) if e.status != "dropped"]
    assert events[-1].latency_ms.count == len(recognised) < 8


def test_a_gap_moves_the_clock_without_writing_or_segmenting_it(loaded_model):
    speech = to_int16(conversation([1.0], gap_s=0.6)).tobytes()
    spec = CallSpec("call-1", "audiohook", ("ch0",), PCM_16K, live=True)

    async def main():
        pool = InferencePool(Worker.for_model(loaded_model, OodOptions()), threads=1)
        events = []

        async def emit(event):
            events.append(event)

        session = CallSession(spec, pool, RecognizerOptions(), Limits(), emit)
        await session.push_interleaved(speech)
        await session.skip(3600.0)  # an hour the client left out
        await session.push_interleaved(speech)
        await session.finish()
        pool.close()
        return session.streams.fronts[0], events

    front, events = asyncio.run(main())
    first, second = utterances(events)
    seconds_sent = len(speech) / 2 / 16000
    assert second.start == pytest.approx(3600.0 + seconds_sent + first.start, abs=0.03)
    assert front.ring.written == 2 * len(speech) // 2  # only what was sent
    assert front.segmenter.frames == front.ring.written // 480
    assert events[-1].streams["ch0"].audio_s == pytest.approx(3600.0 + 2 * len(speech) / 32000)


def test_interleaved_telephone_audio_is_converted_as_each_channel_alone(loaded_model):
    # One multi-channel resampler for the whole message must give each channel the
    # samples (and so the events) its own converter would, whatever the message size.
    from streamser.audio.g711 import mulaw_encode

    mulaw_8k = AudioFormat(8000, 1, Encoding.MULAW)
    agent = to_int16(conversation([1.0, 1.5], gap_s=0.6, rate=8000))
    customer = np.roll(agent, 4000)
    interleaved = mulaw_encode(np.stack([agent, customer], axis=1).reshape(-1)).tobytes()
    alone = [mulaw_encode(channel).tobytes() for channel in (agent, customer)]
    spec = CallSpec("call-1", "audiohook", ("agent", "customer"), mulaw_8k, live=False)

    def run(push):
        async def main():
            pool = InferencePool(Worker.for_model(loaded_model, OodOptions()), threads=1)
            events = []

            async def emit(event):
                events.append(event)

            session = CallSession(spec, pool, RecognizerOptions(), Limits(), emit)
            await push(session)
            await session.finish()
            pool.close()
            return [(e.stream, e.seq, e.start, e.end, e.label) for e in utterances(events)]

        return asyncio.run(main())

    async def per_message(session, size=333):  # 333 bytes: frames split across messages
        for offset in range(0, len(interleaved), size):
            await session.push_interleaved(interleaved[offset : offset + size])

    async def per_channel(session):
        for offset in range(0, len(alone[0]), 160):
            for index, data in enumerate(alone):
                await session.push_channel(index, data[offset : offset + 160])

    together, apart = run(per_message), run(per_channel)
    assert together == apart
    assert {stream for stream, *_ in together} == {"agent", "customer"}
