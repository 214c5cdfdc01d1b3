"""An ended call is freed when its connection ends, by reference counting alone.

A reference cycle between a call's session and its connection's adapter once left
every ended call (its rings: about 1 MB per channel) to Python's cyclic garbage
collector, whose full passes come rarely: under load dozens of ended calls piled up
and the server's memory grew in steps of their rings (docs/RELIABILITY.md, "Soak").
These tests run with the collector off, so whatever of a call only it could free
stays behind and fails them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import weakref
from pathlib import Path

import pytest
from support.speech import conversation, to_int16

sys.path.insert(0, str(Path(__file__).parent))

from clients import DATA, load_session, replay
from test_server import serve

from streamser.audio import AudioFormat, Encoding
from streamser.events import SummaryEvent
from streamser.ood import OodOptions
from streamser.server.options import Limits
from streamser.server.pool import InferencePool
from streamser.server.session import CallSession, CallSpec
from streamser.server.wire import Context
from streamser.streams import RecognizerOptions
from streamser.worker import Worker

PCM_16K = AudioFormat(16000, 1, Encoding.PCM_S16)


@contextlib.contextmanager
def cyclic_collector_off():
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Connection:
    """Stands in for an adapter: it holds its call, and the call holds its `emit`."""

    def __init__(self, gone: bool) -> None:
        self.call: CallSession | None = None
        self.gone = gone
        self.events: list = []

    async def emit(self, event) -> None:
        if self.gone:
            raise ConnectionError("the client has gone")
        self.events.append(event)


@pytest.mark.parametrize("client_gone", [False, True], ids=["sent", "send-failed"])
def test_a_finished_session_lets_go_of_its_connection(loaded_model, client_gone):
    audio = to_int16(conversation([1.0, 1.2], gap_s=0.6)).tobytes()
    spec = CallSpec("call-1", "native", ("ch0",), PCM_16K, live=True)
    published = []

    async def main():
        pool = InferencePool(Worker.for_model(loaded_model, OodOptions()))
        connection = Connection(client_gone)
        connection.call = CallSession(
            spec,
            pool,
            RecognizerOptions(stats_interval_s=0),
            Limits(),
            connection.emit,
            on_stall=lambda: None,
            publish=published.append,
        )
        await connection.call.push_interleaved(audio)
        await connection.call.finish()
        assert isinstance(published[-1], SummaryEvent)
        assert connection.events == ([] if client_gone else published)
        call = weakref.ref(connection.call)
        del connection
        freed = call() is None
        await asyncio.get_running_loop().run_in_executor(None, pool.close)
        return freed

    with cyclic_collector_off():
        assert asyncio.run(main())


CALLS = {
    "native": ("/v1/stream", "native_session.jsonl", {}),
    "twilio": ("/twilio", "twilio_session.jsonl", {}),
    "audiohook": ("/audiohook", "audiohook_session.jsonl", {"X-API-KEY": "k"}),
}


@pytest.mark.parametrize("left_mid_call", [False, True], ids=["ended", "left"])
@pytest.mark.parametrize("protocol", sorted(CALLS))
def test_ended_calls_are_freed_with_their_connection(
    loaded_model, monkeypatch, protocol, left_mid_call
):
    path, recording, headers = CALLS[protocol]
    messages = load_session(DATA / recording)
    if left_mid_call:  # the client goes away before its last messages (no stop or close)
        messages = messages[: len(messages) // 2]
    calls: list[weakref.ref] = []
    open_call = Context.open_call

    def tracked(self, *args, **kwargs):
        call = open_call(self, *args, **kwargs)
        calls.append(weakref.ref(call))
        return call

    monkeypatch.setattr(Context, "open_call", tracked)

    async def go(server, url):
        connections = server.metrics.registry.get_sample_value
        for _ in range(3):
            await replay(url + path, messages, headers=headers, read_until_close=not left_mid_call)
            while connections("streamser_connections"):  # until the server's side ends too
                await asyncio.sleep(0.01)
        return [call() for call in calls]

    with cyclic_collector_off():
        left = serve(loaded_model, go, audiohook_api_key="k")
    assert len(left) == 3
    assert left == [None, None, None]
