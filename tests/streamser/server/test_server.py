"""`streamser serve` over real sockets on 127.0.0.1: each protocol end to end, auth,
limits, isolation between calls and the graceful shutdown."""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from clients import (
    DATA,
    load_session,
    native_messages,
    replay,
    two_channels,
)
from websockets.asyncio.client import connect
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus

from streamser.server.app import Server
from streamser.server.auth import sign_audiohook, verify_audiohook
from streamser.server.options import Limits, ServerOptions


def serve(model, coro_fn, **options):
    """Runs `coro_fn(server, base_url)` against a fresh server on a free port."""

    async def main():
        server = Server(model, ServerOptions(port=0, **options))
        await server.start()
        try:
            return await coro_fn(server, f"ws://127.0.0.1:{server.port}")
        finally:
            await server.shutdown(drain_timeout_s=10)

    return asyncio.run(main())


def utterances(events, stream=None):
    return [e for e in events if e.get("type") == "utterance" and stream in (None, e["stream"])]


def check_call(events, streams):
    summary = events[-1]
    assert summary["type"] == "summary" and summary["status"] == "completed"
    assert set(summary["streams"]) == set(streams)
    for name in streams:
        mine = utterances(events, name)
        assert [e["seq"] for e in mine] == list(range(len(mine)))
        counts = summary["streams"][name]
        assert counts["segmented"] == counts["ok"] + counts["uncertain"] + counts["dropped"]
        assert counts["segmented"] == len(mine) > 0
        starts = [e["start"] for e in mine]
        assert starts == sorted(starts)
    return summary


def test_native_end_to_end_keeps_channels_apart(loaded_model):
    messages = load_session(DATA / "native_session.jsonl")

    async def go(server, url):
        return await replay(url + "/v1/stream", messages)

    received, code = serve(loaded_model, go)
    assert code == 1000
    assert received[0]["type"] == "started" and received[0]["channels"] == ["agent", "customer"]
    summary = check_call(received[1:], ["agent", "customer"])
    # agent speaks once (from 0.4 s), the customer twice (from 2.2 s): apart, not mixed
    assert summary["streams"]["agent"]["segmented"] == 1
    assert summary["streams"]["customer"]["segmented"] == 2
    assert utterances(received, "agent")[0]["start"] < 1.0
    assert utterances(received, "customer")[0]["start"] > 1.8


def test_twilio_events_reach_a_subscriber(loaded_model):
    messages = load_session(DATA / "twilio_session.jsonl")
    call_sid = json.loads(messages[1])["start"]["callSid"]

    async def go(server, url):
        async with connect(f"{url}/twilio/subscribe/{call_sid}") as sub:
            twilio, code = await replay(url + "/twilio", messages)
            lines = [json.loads(m) async for m in sub]
        return twilio, code, lines

    twilio, code, lines = serve(loaded_model, go)
    assert twilio == [] and code == 1000  # Twilio gets nothing it does not understand
    summary = check_call(lines, ["customer", "agent"])
    assert summary["source"] == call_sid


def test_audiohook_handshake_events_and_close(loaded_model):
    messages = load_session(DATA / "audiohook_session.jsonl")

    async def go(server, url):
        return await replay(url + "/audiohook", messages, headers={"X-API-KEY": "k"})

    received, _ = serve(loaded_model, go, audiohook_api_key="k")
    types = [m["type"] for m in received]
    assert types[0] == "opened" and "pong" in types and types[-1] == "closed"
    opened = received[0]
    assert opened["parameters"]["media"] == [
        {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000}
    ]
    assert [m["seq"] for m in received] == list(range(1, len(received) + 1))
    assert received[-1]["clientseq"] == json.loads(messages[-1])["seq"]
    events = [
        entity["data"]
        for m in received
        if m["type"] == "event"
        for entity in m["parameters"]["entities"]
    ]
    check_call(events, ["customer", "agent"])


def test_audiohook_api_key_and_signature():
    secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    headers = {
        "Host": "example.com",
        "Audiohook-Organization-Id": "o",
        "Audiohook-Session-Id": "s",
        "Audiohook-Correlation-Id": "c",
    }
    signed = Headers(headers | sign_audiohook(headers, "/audiohook", "key", secret, "n" * 24, 1000))
    headers = Headers(headers)
    assert verify_audiohook(signed, "/audiohook", "key", secret, now=1002) is None
    assert (
        verify_audiohook(signed, "/other", "key", secret, now=1002) == "signature does not verify"
    )
    assert "expired" in verify_audiohook(signed, "/audiohook", "key", secret, now=1100)
    assert "X-API-KEY" in verify_audiohook(headers, "/audiohook", "key", None)
    headers["X-API-KEY"] = "key"
    assert verify_audiohook(headers, "/audiohook", "key", None) is None


def test_auth_refused_without_the_token(loaded_model):
    async def go(server, url):
        refused = []
        for path, headers in (
            ("/v1/stream", None),
            ("/v1/stream", {"Authorization": "Bearer wrong"}),
            ("/twilio/subscribe/CA1", None),
        ):
            with pytest.raises(InvalidStatus) as info:
                async with connect(url + path, additional_headers=headers):
                    pass
            refused.append(info.value.response.status_code)
        with pytest.raises(InvalidStatus) as info:
            async with connect(url + "/audiohook", additional_headers={"X-API-KEY": "nope"}):
                pass
        refused.append(info.value.response.status_code)
        ok, _ = await replay(
            url + "/v1/stream",
            native_messages(two_channels()),
            headers={"Authorization": "Bearer s3cret"},
        )
        return refused, ok

    refused, ok = serve(loaded_model, go, token="s3cret", audiohook_api_key="k")
    assert refused == [401, 401, 401, 401]
    assert ok[-1]["type"] == "summary"


def test_binding_beyond_loopback_needs_a_token():
    with pytest.raises(ValueError, match="needs --token"):
        ServerOptions(host="0.0.0.0")
    ServerOptions(host="0.0.0.0", token="t")


def test_oversized_and_malformed_messages_get_errors_and_the_call_goes_on(loaded_model):
    audio = two_channels()
    messages = list(native_messages(audio))
    messages[3:3] = ["{not json", b"\x00" * 5000, json.dumps({"type": "dance"})]

    async def go(server, url):
        other = asyncio.ensure_future(replay(url + "/v1/stream", native_messages(audio, "other")))
        mine = await replay(url + "/v1/stream", messages)
        return mine, await other

    (mine, code), (other, _) = serve(loaded_model, go, limits=Limits(max_message_bytes=4096))
    errors = [m for m in mine if m.get("type") == "error"]
    assert [e["fatal"] for e in errors] == [False, False, False]
    assert "malformed JSON" in errors[0]["message"]
    assert "exceeds the limit of 4096" in errors[1]["message"]
    assert "unknown message type" in errors[2]["message"]
    assert code == 1000
    check_call([m for m in mine if m["type"] != "error"][1:], ["agent", "customer"])
    assert utterances(other) and other[-1]["type"] == "summary"
    assert len(utterances(other)) == len(utterances(mine))


def test_a_client_leaving_mid_utterance_costs_the_others_nothing(loaded_model):
    audio = two_channels()
    full = list(native_messages(audio))

    async def go(server, url):
        async def leaver():
            async with connect(url + "/v1/stream") as ws:
                for m in full[:60]:  # start, then into the agent's utterance
                    await ws.send(m)
            # closed without stop, mid-utterance

        stayer = asyncio.ensure_future(replay(url + "/v1/stream", full, pace_s=0.002))
        await leaver()
        return await stayer

    received, code = serve(loaded_model, go)
    check_call(received[1:], ["agent", "customer"])
    assert code == 1000


def test_shutdown_flushes_open_calls_and_sends_summaries(loaded_model):
    audio = two_channels()
    without_stop = list(native_messages(audio))[:-1]

    async def go(server, url):
        ws = await connect(url + "/v1/stream")
        for m in without_stop:
            await ws.send(m)
        await asyncio.sleep(0.3)
        received = []

        async def read():
            async for m in ws:
                received.append(json.loads(m))

        reading = asyncio.ensure_future(read())
        await server.shutdown(drain_timeout_s=10)
        await asyncio.wait_for(reading, 10)
        return received, ws.close_code

    received, code = serve(loaded_model, go)
    assert code == 1001
    summary = received[-1]
    assert summary["type"] == "summary" and summary["status"] == "stopped"
    for name in ("agent", "customer"):
        c = summary["streams"][name]
        assert (
            c["segmented"]
            == c["ok"] + c["uncertain"] + c["dropped"]
            == len(utterances(received, name))
        )


def test_healthz_and_metrics(loaded_model):
    async def go(server, url):
        await replay(url + "/v1/stream", native_messages(two_channels()))
        base = url.replace("ws://", "http://")
        loop = asyncio.get_running_loop()

        def fetch(path):
            with urllib.request.urlopen(base + path, timeout=5) as response:
                return response.status, response.read().decode()

        return await loop.run_in_executor(None, fetch, "/healthz"), await loop.run_in_executor(
            None, fetch, "/metrics"
        )

    (status, health), (_, metrics) = serve(loaded_model, go)
    assert status == 200 and json.loads(health)["status"] == "ok"
    assert 'streamser_calls_total{protocol="native",status="completed"} 1.0' in metrics
    assert "streamser_inference_seconds_bucket" in metrics
    assert (
        "streamser_active_calls" in metrics and "streamser_dropped_audio_seconds_total" in metrics
    )
