"""`streamser serve` over real sockets on 127.0.0.1: each protocol end to end, auth,
limits, isolation between calls and the graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import subprocess
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
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    InvalidMessage,
    InvalidStatus,
)

from streamser.server import app
from streamser.server.app import Server
from streamser.server.auth import (
    sign_audiohook,
    twilio_signature,
    verify_audiohook,
    verify_twilio,
)
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


@pytest.mark.parametrize("compression", [False, True])
def test_per_message_deflate_only_when_enabled(loaded_model, compression):
    """Clients (websockets among them) offer deflate by default; the server accepts
    the offer only with `compression`, and the call completes either way."""
    messages = load_session(DATA / "native_session.jsonl")

    async def go(server, url):
        async with connect(url + "/v1/stream") as ws:
            negotiated = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        received, _ = await replay(url + "/v1/stream", messages)
        return negotiated, received

    negotiated, received = serve(loaded_model, go, compression=compression)
    assert ("permessage-deflate" in negotiated) is compression
    check_call(received[1:], ["agent", "customer"])


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
    ServerOptions(host="0.0.0.0", twilio_auth_token="t")


def test_beyond_loopback_only_the_protected_endpoints_are_open(loaded_model):
    async def main():
        options = ServerOptions(host="0.0.0.0", port=0, twilio_auth_token="tw")
        async with Server(loaded_model, options) as server:
            url = f"ws://127.0.0.1:{server.port}"
            statuses = []
            for path in ("/v1/stream", "/twilio/subscribe/CA1", "/audiohook", "/twilio"):
                with pytest.raises(InvalidStatus) as info:
                    async with connect(url + path):
                        pass
                statuses.append(info.value.response.status_code)
            return statuses

    # no --token: native and subscribers closed; no API key: AudioHook closed;
    # Twilio open to signed requests only
    assert asyncio.run(main()) == [403, 403, 403, 401]


def test_twilio_signature_matches_twilios_documented_examples():
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "To": "+18005551212"}
    for caller, expected in (
        ("+14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("+14158675310", "GvWf1cFY/Q7PnoempGyD5oXAezc="),
    ):
        assert twilio_signature(url, "12345", params | {"Caller": caller, "From": caller}) == (
            expected
        )


def test_twilio_signature_accepts_the_url_with_or_without_its_default_port():
    signed = twilio_signature("wss://calls.example.com/twilio", "tok")
    assert verify_twilio(signed, "wss://calls.example.com/twilio", "tok")
    assert verify_twilio(signed, "wss://calls.example.com:443/twilio", "tok")
    assert not verify_twilio(signed, "wss://calls.example.com:8443/twilio", "tok")
    assert not verify_twilio(signed, "wss://calls.example.com/twilio?x=1", "tok")
    assert not verify_twilio(signed, "wss://calls.example.com/twilio", "other")
    assert not verify_twilio(None, "wss://calls.example.com/twilio", "tok")


def test_twilio_streams_need_a_valid_signature(loaded_model):
    messages = load_session(DATA / "twilio_session.jsonl")
    call_sid = json.loads(messages[1])["start"]["callSid"]

    async def go(server, url):
        host = f"127.0.0.1:{server.port}"
        refused = []
        for signature in (None, twilio_signature(f"wss://{host}/twilio", "wrong")):
            headers = {"X-Twilio-Signature": signature} if signature else None
            with pytest.raises(InvalidStatus) as info:
                async with connect(url + "/twilio", additional_headers=headers):
                    pass
            refused.append(info.value.response.status_code)
        # Twilio signs the URL it was given; the server rebuilds it from wss:// and Host
        signed = {"X-Twilio-Signature": twilio_signature(f"wss://{host}/twilio", "tw")}
        async with connect(f"{url}/twilio/subscribe/{call_sid}") as sub:
            _, code = await replay(url + "/twilio", messages, headers=signed)
            lines = [json.loads(m) async for m in sub]
        return refused, code, lines

    refused, code, lines = serve(loaded_model, go, twilio_auth_token="tw")
    assert refused == [401, 401]
    assert code == 1000
    check_call(lines, ["customer", "agent"])


def test_twilio_signature_behind_a_proxy_uses_the_public_url(loaded_model):
    messages = load_session(DATA / "twilio_session.jsonl")
    public = "wss://calls.example.com"

    async def go(server, url):
        wrong = {
            "X-Twilio-Signature": twilio_signature(f"wss://127.0.0.1:{server.port}/twilio", "tw")
        }
        with pytest.raises(InvalidStatus):
            async with connect(url + "/twilio", additional_headers=wrong):
                pass
        signed = {"X-Twilio-Signature": twilio_signature(public + "/twilio", "tw")}
        return await replay(url + "/twilio", messages, headers=signed)

    received, code = serve(loaded_model, go, twilio_auth_token="tw", public_url=public)
    assert code == 1000 and received == []


def test_a_message_larger_than_one_socket_read_arrives_whole(loaded_model):
    audio = two_channels()
    chunked = list(native_messages(audio))
    whole = [chunked[0], b"".join(m for m in chunked if isinstance(m, bytes)), chunked[-1]]
    assert len(whole[1]) > app.READ_BYTES

    async def go(server, url):
        return await replay(url + "/v1/stream", whole), await replay(url + "/v1/stream", chunked)

    limits = Limits(max_message_bytes=256 * 1024)
    ((at_once, code), (in_messages, _)) = serve(loaded_model, go, limits=limits)
    assert code == 1000
    check_call(at_once, ["agent", "customer"])
    key = [(e["stream"], e["seq"], e["start"], e["end"]) for e in utterances(at_once)]
    assert key == [(e["stream"], e["seq"], e["start"], e["end"]) for e in utterances(in_messages)]


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


async def until_counted(server, status: str, protocol: str = "native") -> None:
    """Waits for the server to finish a call with `status` (bounded, generously)."""
    labels = {"protocol": protocol, "status": status}
    for _ in range(1200):
        if server.metrics.registry.get_sample_value("streamser_calls_total", labels):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {protocol} call was counted {status} within 60 s")


def test_a_client_that_stops_reading_is_dropped_and_the_others_go_on(loaded_model):
    # 240 short utterances sent faster than real time: more events than the server's
    # bounded send buffers hold for a client that does not read them.
    many = two_channels(seconds_a=(0.6,) * 120, seconds_b=(0.6,) * 120)
    limits = Limits(send_timeout_s=1.0, send_buffer_bytes=4096, socket_send_buffer_bytes=4096)

    async def go(server, url):
        async def stops_reading():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting
            sock.connect(("127.0.0.1", server.port))
            sock.setblocking(False)
            # max_queue=1: the client library itself stops reading after one message;
            # no compression, which would shrink the repetitive events tenfold
            async with connect(url + "/v1/stream", sock=sock, max_queue=1, compression=None) as ws:
                with contextlib.suppress(ConnectionClosed):
                    for m in native_messages(many, "stops-reading"):
                        await ws.send(m)
                await until_counted(server, "stalled")  # however long a loaded machine takes
                received = []
                with pytest.raises(ConnectionClosedError):  # aborted: no close frame
                    async for m in ws:
                        received.append(m)
                return len(received)

        read, (other, code) = await asyncio.gather(
            stops_reading(),
            replay(url + "/v1/stream", native_messages(two_channels(), "reader")),
        )
        metrics = await asyncio.get_running_loop().run_in_executor(
            None, _fetch, url.replace("ws://", "http://") + "/metrics"
        )
        return read, other, code, metrics

    read, other, code, metrics = serve(loaded_model, go, limits=limits)
    assert read < 100  # of 240 events: the server gave up on the client
    check_call(other[1:], ["agent", "customer"])
    assert code == 1000
    assert 'streamser_calls_total{protocol="native",status="stalled"} 1.0' in metrics
    assert 'streamser_calls_total{protocol="native",status="completed"} 1.0' in metrics


def test_a_native_client_sending_faster_than_real_time_is_slowed_and_loses_nothing(
    loaded_model,
):
    many = two_channels(seconds_a=(0.6,) * 60, seconds_b=(0.6,) * 60)  # 86 s of audio

    async def go(server, url):
        started = asyncio.get_running_loop().time()
        received, code = await replay(url + "/v1/stream", native_messages(many, "fast"))
        return received, code, asyncio.get_running_loop().time() - started

    received, code, seconds = serve(loaded_model, go, limits=Limits(max_pending_utterances=2))
    assert code == 1000 and seconds < 60  # far faster than the audio lasts
    summary = check_call(received[1:], ["agent", "customer"])
    for name in ("agent", "customer"):
        counts = summary["streams"][name]
        assert counts["segmented"] == 60 and counts["dropped"] == 0


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


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


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made by the real openssl."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tls_serves_wss_and_refuses_plain_and_untrusted_clients(loaded_model, certificate):
    cert, key = certificate
    trusting = ssl.create_default_context(cafile=str(cert))

    async def main():
        options = ServerOptions(port=0, certfile=str(cert), keyfile=str(key))
        async with Server(loaded_model, options) as server:
            base = f"127.0.0.1:{server.port}"
            received, code = await replay(
                f"wss://{base}/v1/stream", native_messages(two_channels()), ssl=trusting
            )
            with pytest.raises(ssl.SSLCertVerificationError):
                async with connect(f"wss://{base}/v1/stream", ssl=ssl.create_default_context()):
                    pass
            with pytest.raises((InvalidMessage, ConnectionError, EOFError)):
                async with connect(f"ws://{base}/v1/stream", open_timeout=5):
                    pass
            # the refused clients cost the server nothing
            again, _ = await replay(
                f"wss://{base}/v1/stream", native_messages(two_channels(), "again"), ssl=trusting
            )
            return received, code, again

    received, code, again = asyncio.run(main())
    assert code == 1000
    check_call(received[1:], ["agent", "customer"])
    assert again[-1]["type"] == "summary" and again[-1]["status"] == "completed"
