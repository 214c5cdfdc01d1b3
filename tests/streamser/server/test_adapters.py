"""What each protocol adapter accepts and refuses: handshakes, field types, media
negotiation, durations, and the defects found by probing the server."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from clients import DATA, load_session, replay
from test_server import serve, utterances
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from streamser.audio import Encoding
from streamser.server import audiohook, native, twilio
from streamser.server.options import Limits
from streamser.server.wire import ProtocolError, parse_json_object, typed

NATIVE_START = {"type": "start", "stream_id": "s-1", "sample_rate": 8000}
TWILIO_START = {
    "event": "start",
    "start": {"callSid": "CA1", "tracks": ["inbound", "outbound"], "mediaFormat": {
        "encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}},
}  # fmt: skip


def test_native_start_gives_the_calls_spec_with_defaults():
    spec = native.parse_start(dict(NATIVE_START, channels=["agent", "customer"]), 2)
    assert spec.call_id == "s-1" and spec.channels == ("agent", "customer")
    assert spec.format.encoding is Encoding.PCM_S16 and spec.format.sample_rate_hz == 8000
    assert spec.live is False and spec.protocol == "native"


@pytest.mark.parametrize(
    "change, fatal, words",
    [({"encoding": ["s16le"]}, True, "encoding must be a string"),
     ({"sample_rate": "8k"}, True, "sample_rate must be an integer"),
     ({"sample_rate": True}, True, "sample_rate must be an integer"),
     ({"channels": "agent"}, True, "channels must be a list"),
     ({"stream_id": 7}, True, "stream_id must be a string"),
     ({"encoding": "flac"}, False, "is not one of"),
     ({"sample_rate": 11025}, False, "is not one of"),
     ({"channels": ["a", "a"]}, False, "distinct names"),
     ({"channels": ["a", "b", "c"]}, False, "1..2 distinct")],
)  # fmt: skip
def test_native_start_names_the_bad_field(change, fatal, words):
    with pytest.raises(ProtocolError, match=words) as caught:
        native.parse_start(dict(NATIVE_START, **change), 2)
    assert caught.value.fatal is fatal


def test_twilio_start_maps_tracks_to_streams_and_keeps_custom_parameters():
    message = json.loads(json.dumps(TWILIO_START))
    message["start"]["customParameters"] = {"token": "t"}
    spec, params = twilio.parse_start(message, 2)
    assert spec.call_id == "CA1" and spec.channels == ("customer", "agent")
    assert spec.live is True and params == {"token": "t"}


@pytest.mark.parametrize(
    "path, value, words",
    [(("start",), "x", "start must be an object"),
     (("start", "mediaFormat"), "audio/x-mulaw", "mediaFormat must be an object"),
     (("start", "mediaFormat", "sampleRate"), "8k", "sampleRate must be an integer"),
     (("start", "tracks"), "inbound", "tracks must be a list"),
     (("start", "customParameters"), [], "customParameters must be an object")],
)  # fmt: skip
def test_twilio_start_refuses_fields_of_the_wrong_type(path, value, words):
    message = json.loads(json.dumps(TWILIO_START))
    target = message
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ProtocolError, match=words) as caught:
        twilio.parse_start(message, 2)
    assert caught.value.fatal


@pytest.mark.parametrize(
    "media, words",
    [("abc", "media must be an object"),
     ({"track": ["inbound"], "payload": ""}, "track must be a string"),
     ({"track": "inbound", "payload": 12}, "payload must be a string"),
     ({"track": "inbound", "payload": "***"}, "not base64")],
)  # fmt: skip
def test_twilio_media_refuses_what_is_not_base64_audio(media, words):
    with pytest.raises(ProtocolError, match=words):
        twilio.parse_media({"event": "media", "media": media})


def test_twilio_media_decodes_its_payload():
    assert twilio.parse_media({"media": {"track": "outbound", "payload": "//8="}}) == (
        "outbound",
        b"\xff\xff",
    )


def test_audiohook_takes_the_first_offer_it_can_decode():
    offers = [
        {"type": "audio", "format": "L16", "rate": 8000, "channels": ["external"]},
        {"type": "audio", "format": "PCMU", "rate": 16000, "channels": ["external"]},
        {"type": "audio", "format": "PCMU", "rate": 8000, "channels": ["external", "internal"]},
    ]
    chosen = audiohook.choose_media(offers, 2)
    assert chosen == {"type": "audio", "format": "PCMU", "channels": ["external", "internal"],
                      "rate": 8000}  # fmt: skip
    assert audiohook.choose_media(offers[:2], 2) is None
    assert audiohook.choose_media("PCMU", 2) is None
    assert audiohook.choose_media(offers[2:], 1) is None  # two channels offered, one allowed


@pytest.mark.parametrize("text, seconds", [("PT0S", 0.0), ("PT1.25S", 1.25), ("PT600S", 600.0)])
def test_audiohook_durations(text, seconds):
    assert audiohook.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["1.25", "PT-1S", "P1D", 5, None, "PTS"])
def test_audiohook_refuses_other_durations(text):
    with pytest.raises(ProtocolError, match="bad duration"):
        audiohook.parse_duration(text)


def test_typed_fields_default_only_when_missing():
    assert typed({}, "a", int, "m", 3) == 3
    assert typed({"a": None}, "a", int, "m", 3) == 3
    with pytest.raises(ProtocolError, match="m: a is missing"):
        typed({}, "a", int, "m")


# --- over sockets: the defects a hostile client found -------------------------


def test_a_native_start_with_a_field_of_the_wrong_type_fails_the_call_with_1008(loaded_model):
    bad = json.dumps(dict(NATIVE_START, encoding=["s16le"]))

    async def go(server, url):
        return await replay(url + "/v1/stream", [bad])

    received, code = serve(loaded_model, go)
    assert code == 1008
    assert received[-1]["type"] == "error" and received[-1]["fatal"] is True
    assert "encoding must be a string" in received[-1]["message"]


def test_an_open_call_ended_by_a_malformed_message_is_summarised_as_failed(loaded_model):
    messages = load_session(DATA / "native_session.jsonl")[:-1]  # no stop
    messages.append(json.dumps({"type": ["stop"]}))

    async def go(server, url):
        return await replay(url + "/v1/stream", messages)

    received, code = serve(loaded_model, go)
    assert code == 1008
    errors = [m for m in received if m["type"] == "error"]
    assert (
        len(errors) == 1 and errors[0]["fatal"] and "type must be a string" in errors[0]["message"]
    )
    assert received[-1]["type"] == "summary" and received[-1]["status"] == "failed"


def test_audiohook_parameters_of_the_wrong_type_close_with_1008(loaded_model):
    messages = load_session(DATA / "audiohook_session.jsonl")
    opening = json.loads(messages[0])
    opening["parameters"] = []

    async def go(server, url):
        return await replay(url + "/audiohook", [json.dumps(opening)], headers={"X-API-KEY": "k"})

    _, code = serve(loaded_model, go, audiohook_api_key="k")
    assert code == 1008


def test_a_long_audiohook_discard_costs_nothing_and_moves_the_clock(loaded_model):
    messages = load_session(DATA / "audiohook_session.jsonl")
    opening, rest = messages[0], messages[1:]
    session_id = json.loads(opening)["id"]
    discards = [
        json.dumps({"version": "2", "id": session_id, "type": "discarded", "seq": 2 + i,
                    "serverseq": 0, "position": "PT0S", "parameters": {"discarded": "PT600S"}})
        for i in range(20)
    ]  # fmt: skip

    async def go(server, url):
        began = time.monotonic()
        received, _ = await replay(url + "/audiohook", [opening, *discards, *rest],
                                   headers={"X-API-KEY": "k"})  # fmt: skip
        return received, time.monotonic() - began

    received, _ = serve(loaded_model, go, audiohook_api_key="k")
    events = [
        entity["data"]
        for m in received if m["type"] == "event"
        for entity in m["parameters"]["entities"]
    ]  # fmt: skip
    spoken = utterances(events)
    assert spoken, "the call's speech after the discards was recognised"
    assert min(e["start"] for e in spoken) >= 20 * 600  # times after 3 h 20 min of gap
    assert events[-1]["type"] == "summary" and events[-1]["streams"]["customer"]["audio_s"] > 12000


def test_a_twilio_stream_that_sends_media_before_start_is_closed_at_once(loaded_model):
    media = json.dumps({"event": "media", "media": {"track": "inbound", "payload": "//8="}})

    async def go(server, url):
        return await replay(url + "/twilio", [json.dumps({"event": "connected"})] + [media] * 500)

    _, code = serve(loaded_model, go, token="secret")
    assert code == 1008


def test_the_open_deadline_runs_from_connecting_not_from_the_last_message(loaded_model):
    async def go(server, url):
        began = time.monotonic()
        async with connect(url + "/audiohook", additional_headers={"X-API-KEY": "k"}) as ws:
            with_pings = asyncio.ensure_future(_ping_forever(ws))
            await ws.wait_closed()
            with_pings.cancel()
            return time.monotonic() - began, ws.close_code

    elapsed, code = serve(loaded_model, go, audiohook_api_key="k",
                          limits=Limits(open_timeout_s=1.0))  # fmt: skip
    assert code == 1008
    assert elapsed < 30  # it would never close if each ping restarted the clock


def test_a_call_that_keeps_sending_stays_open_past_the_idle_timeout_and_silence_ends_it(
    loaded_model,
):
    open_message = json.dumps({"version": "2", "id": "s", "type": "open", "seq": 1,
                               "serverseq": 0, "position": "PT0S",
                               "parameters": {"organizationId": "o", "conversationId": "c",
                                              "media": [{"type": "audio", "format": "PCMU",
                                                         "channels": ["external"],
                                                         "rate": 8000}]}})  # fmt: skip

    async def go(server, url):
        async with connect(url + "/audiohook", additional_headers={"X-API-KEY": "k"}) as ws:
            await ws.send(open_message)
            assert json.loads(await ws.recv())["type"] == "opened"
            for _ in range(25):  # 2.5 s of messages, each well within the 1 s timeout
                await asyncio.sleep(0.1)
                await ws.send(b"\xff" * 160)
            # The server's idle clock restarts when the last message arrives, after this.
            silent_from = time.monotonic()
            open_after_sending = ws.close_code is None
            replies = []
            with pytest.raises(ConnectionClosed):
                while True:
                    replies.append(json.loads(await ws.recv()))
            return open_after_sending, time.monotonic() - silent_from, replies, ws.close_code

    open_after_sending, silent_s, replies, code = serve(
        loaded_model, go, audiohook_api_key="k", limits=Limits(idle_timeout_s=1.0)
    )
    assert open_after_sending
    assert 0.9 <= silent_s < 10
    assert replies[0]["type"] == "disconnect" and code == 1008
    summary = replies[-1]["parameters"]["entities"][0]["data"]
    assert summary["type"] == "summary" and summary["status"] == "stopped"


async def _ping_forever(ws) -> None:
    seq = 0
    while True:
        seq += 1
        await ws.send(json.dumps({"version": "2", "id": "x", "type": "ping", "seq": seq,
                                  "serverseq": 0, "position": "PT0S", "parameters": {}}))  # fmt: skip
        await asyncio.sleep(0.2)


def test_a_second_twilio_stream_cannot_take_over_a_live_call_sid(loaded_model):
    messages = load_session(DATA / "twilio_session.jsonl")
    call_sid = json.loads(messages[1])["start"]["callSid"]

    async def go(server, url):
        async with connect(f"{url}/twilio/subscribe/{call_sid}") as sub:
            first = asyncio.ensure_future(replay(url + "/twilio", messages, pace_s=0.001))
            await asyncio.sleep(0.3)
            _, second_code = await replay(url + "/twilio", messages[:2])
            await first
            lines = [json.loads(m) async for m in sub]
        return second_code, lines

    second_code, lines = serve(loaded_model, go)
    assert second_code == 1008
    summaries = [line for line in lines if line["type"] == "summary"]
    assert len(summaries) == 1 and summaries[0]["status"] == "completed"


def test_the_token_guards_audiohook_on_a_loopback_bind_too(loaded_model):
    messages = load_session(DATA / "audiohook_session.jsonl")

    async def go(server, url):
        with pytest.raises(InvalidStatus) as refused:
            await replay(url + "/audiohook", messages)
        received, _ = await replay(url + "/audiohook", messages, headers={"X-API-KEY": "secret"})
        return refused.value.response.status_code, received

    status, received = serve(loaded_model, go, token="secret")
    assert status == 401
    assert received[0]["type"] == "opened" and received[-1]["type"] == "closed"


def test_a_subscriber_to_a_call_that_never_begins_is_closed(loaded_model):
    async def go(server, url):
        async with connect(f"{url}/twilio/subscribe/CA-never") as sub:
            await sub.wait_closed()
            return sub.close_code, server.context.subscribers

    code, subscribers = serve(loaded_model, go, limits=Limits(idle_timeout_s=1.0))
    assert code == 1008 and subscribers == {}


@pytest.mark.parametrize("text", ['{"a": ' + "9" * 5000 + "}", "[" * 5000 + "]" * 5000])
def test_json_python_cannot_parse_is_a_protocol_error(text):
    with pytest.raises(ProtocolError, match="number too long or nesting too deep"):
        parse_json_object(text, 1 << 20)


@pytest.mark.parametrize("given", [None, 7, [], {}, "\ud800", "wrong"])
def test_anything_but_the_secret_string_is_not_the_secret(given):
    from streamser.server.auth import same_secret

    assert same_secret(given, "secret") is False
    assert same_secret("secret", "secret") is True


def test_a_gap_longer_than_a_day_is_refused():
    assert audiohook.parse_duration("PT86400S") == 86400.0
    for text in ("PT86401S", "PT" + "9" * 400 + "S"):
        with pytest.raises(ProtocolError, match="more than 86400 s"):
            audiohook.parse_duration(text)


def test_media_offers_with_channels_that_are_not_names_are_passed_over():
    offer = {"type": "audio", "format": "PCMU", "rate": 8000, "channels": [{}, ["x"]]}
    assert audiohook.choose_media([offer], 2) is None


def test_a_client_chosen_message_type_cannot_break_the_error_line():
    with pytest.raises(ProtocolError) as caught:
        typed({"seq": "1"}, "seq", int, "pong\n\u2028evil")
    assert "\n" not in str(caught.value) and "\u2028" not in str(caught.value)
