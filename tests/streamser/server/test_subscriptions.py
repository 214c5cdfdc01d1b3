"""The subscription API over real sockets, with the bus inside one server: every
protocol's calls by their own ids, the backlog for late subscribers, resuming
after an id, filters, auth, and subscribers that fall behind."""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from clients import DATA, load_session, native_messages, replay, two_channels
from test_server import check_call, serve
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from streamser.server.bus import Hub
from streamser.server.metrics import ServerMetrics
from streamser.server.records import BusRecord, RecordFilter, parse_id

TWILIO = load_session(DATA / "twilio_session.jsonl")
CALL_SID = json.loads(TWILIO[1])["start"]["callSid"]
AUDIOHOOK = load_session(DATA / "audiohook_session.jsonl")
CONVERSATION = json.loads(AUDIOHOOK[0])["parameters"]["conversationId"]


async def collect(url, headers=None):
    """Every record a subscription sends until the server closes it."""
    async with connect(url, additional_headers=headers, max_size=2**22) as ws:
        records = [json.loads(m) async for m in ws]
    return records, ws.close_code


def events_of(records):
    return [r["event"] for r in records if r["type"] != "started"]


def check_records(records, call_id, protocol, streams):
    """A call's records: started first, its events in order, increasing ids."""
    assert records[0]["type"] == "started" and records[0]["call"]["call_id"] == call_id
    assert records[0]["call"]["protocol"] == protocol
    assert all(r["schema"] == "streamser.bus/1" and r["call_id"] == call_id for r in records)
    ids = [parse_id(r["id"]) for r in records]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    return check_call(events_of(records), streams)


async def http_get(url, headers=None):
    def fetch():
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())

    return await asyncio.get_running_loop().run_in_executor(None, fetch)


async def native_call(url, messages, first_event: asyncio.Event, pace_s=0.003, hold=None):
    """A native client pacing its audio, telling when its first utterance came back;
    with `hold`, it sends `stop` only once `hold` is set (the call stays in progress)."""
    received = []
    messages = list(messages)
    async with connect(url + "/v1/stream") as ws:

        async def read():
            async for m in ws:
                received.append(json.loads(m))
                if received[-1]["type"] == "utterance":
                    first_event.set()

        reading = asyncio.ensure_future(read())
        for m in messages[:-1]:
            await ws.send(m)
            if isinstance(m, bytes):
                await asyncio.sleep(pace_s)
        if hold is not None:
            await asyncio.wait_for(hold.wait(), 60)
        await ws.send(messages[-1])  # stop
        await asyncio.wait_for(reading, 60)
    return received


async def subscribed(server, count, seconds=60.0):
    """Waits (bounded) until the server holds `count` subscriptions."""
    deadline = asyncio.get_running_loop().time() + seconds
    while server.metrics.registry.get_sample_value("streamser_subscribers") != count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{count} subscriber(s) not registered within {seconds:g} s")
        await asyncio.sleep(0.02)


async def listed(url, call_id, seconds=60.0):
    """`GET /v1/calls` once it lists `call_id` (bounded: another instance's list is
    refreshed asynchronously)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        status, listing = await http_get(url.replace("ws://", "http://") + "/v1/calls")
        if any(c["call_id"] == call_id for c in listing["calls"]):
            return status, listing
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{call_id} was not listed within {seconds:g} s")
        await asyncio.sleep(0.1)


def test_a_late_subscriber_gets_the_backlog_then_live_events_until_the_summary(loaded_model):
    audio = two_channels(seconds_a=(1.0, 1.0, 1.0), seconds_b=(1.0, 1.0, 1.0))

    async def go(server, url):
        first, hold = asyncio.Event(), asyncio.Event()
        call = asyncio.ensure_future(
            native_call(url, native_messages(audio, "late"), first, hold=hold)
        )
        await asyncio.wait_for(first.wait(), 60)  # the call is under way
        status, listing = await listed(url, "late")
        subscriber = asyncio.ensure_future(collect(url + "/v1/calls/late/events"))
        hold.set()
        records, code = await subscriber
        _, after = await http_get(url.replace("ws://", "http://") + "/v1/calls")
        return await call, status, listing, records, code, after

    client, status, listing, records, code, after = serve(loaded_model, go)
    assert code == 1000
    check_records(records, "late", "native", ["agent", "customer"])
    # exactly what the call's own client received, in the same order
    assert events_of(records) == client[1:]
    assert status == 200 and listing["schema"] == "streamser.calls/1"
    (call,) = listing["calls"]
    assert call["call_id"] == "late" and call["protocol"] == "native"
    assert call["streams"] == ["agent", "customer"] and set(call["counts"]) == {"agent", "customer"}
    assert sum(c["segmented"] for c in call["counts"].values()) >= 1
    assert after["calls"] == []


def test_every_protocol_s_calls_are_reached_by_their_own_ids(loaded_model):
    async def go(server, url):
        # Whether these subscribers come before, during or after their calls, they
        # get the same: the backlog covers whatever they missed.
        twilio_sub = asyncio.ensure_future(collect(f"{url}/v1/calls/{CALL_SID}/events"))
        audiohook_sub = asyncio.ensure_future(collect(f"{url}/v1/calls/{CONVERSATION}/events"))
        await asyncio.gather(
            replay(url + "/twilio", TWILIO),
            replay(url + "/audiohook", AUDIOHOOK, headers={"X-API-KEY": "k"}),
        )
        return await asyncio.gather(twilio_sub, audiohook_sub)

    (twilio_records, twilio_code), (audiohook_records, audiohook_code) = serve(
        loaded_model, go, audiohook_api_key="k"
    )
    assert twilio_code == audiohook_code == 1000
    check_records(twilio_records, CALL_SID, "twilio", ["customer", "agent"])
    check_records(audiohook_records, CONVERSATION, "audiohook", ["customer", "agent"])


def test_v1_events_filters_by_protocol_type_and_stream(loaded_model):
    async def go(server, url):
        sub = await connect(f"{url}/v1/events?protocol=native&type=utterance,summary&stream=agent")
        await subscribed(server, 1)
        await asyncio.gather(
            replay(url + "/v1/stream", native_messages(two_channels(), "one")),
            replay(url + "/v1/stream", native_messages(two_channels(), "two")),
            replay(url + "/twilio", TWILIO),
        )
        records = []
        while len([r for r in records if r["type"] == "summary"]) < 2:
            records.append(json.loads(await asyncio.wait_for(sub.recv(), 30)))
        await sub.close()
        return records

    records = serve(loaded_model, go)
    assert {r["call_id"] for r in records} == {"one", "two"}
    utterances = [r for r in records if r["type"] == "utterance"]
    assert utterances and all(r["event"]["stream"] == "agent" for r in utterances)
    assert {r["type"] for r in records} == {"utterance", "summary"}


def test_a_subscriber_resumes_after_the_last_id_it_saw(loaded_model):
    async def go(server, url):
        await replay(url + "/v1/stream", native_messages(two_channels(), "done"))
        whole, code = await collect(url + "/v1/calls/done/events")  # the call has ended
        rest, _ = await collect(f"{url}/v1/calls/done/events?after={whole[2]['id']}")
        async with connect(f"{url}/v1/events?after={whole[0]['id']}") as sub:  # never ends
            everything = [json.loads(await sub.recv()) for _ in whole[1:]]
        return whole, code, rest, everything

    whole, code, rest, everything = serve(loaded_model, go)
    assert code == 1000 and whole[-1]["type"] == "summary"
    check_records(whole, "done", "native", ["agent", "customer"])
    assert rest == whole[3:]
    assert everything == whole[1:]


def test_subscriptions_need_the_token_and_a_query_they_understand(loaded_model):
    async def go(server, url):
        statuses = []
        for path in ("/v1/events", "/v1/calls/x/events", "/twilio/subscribe/x"):
            with pytest.raises(InvalidStatus) as info:
                async with connect(url + path):
                    pass
            statuses.append(info.value.response.status_code)
        bearer = {"Authorization": "Bearer s3cret"}
        for query in ("?after=yesterday", "?colour=red", "?type=dance"):
            with pytest.raises(InvalidStatus) as info:
                async with connect(url + "/v1/events" + query, additional_headers=bearer):
                    pass
            statuses.append(info.value.response.status_code)
        base = url.replace("ws://", "http://")
        with pytest.raises(urllib.error.HTTPError) as info:
            await http_get(base + "/v1/calls")
        statuses.append(info.value.code)
        status, listing = await http_get(base + "/v1/calls", bearer)
        return statuses, status, listing

    statuses, status, listing = serve(loaded_model, go, token="s3cret")
    assert statuses == [401, 401, 401, 400, 400, 400, 401]
    assert status == 200 and listing["calls"] == [] and listing["broker"] == "local"


def test_a_subscriber_that_falls_behind_is_dropped_and_told_so():
    async def main():
        metrics = ServerMetrics({"name": "m", "sha256": "0"}, 1)
        hub = Hub(metrics, queue_size=16)
        slow = hub.subscribe("c1")
        other_call = hub.subscribe("c2")
        everything = hub.subscribe(None, RecordFilter(types=frozenset({"summary"})))
        for n in range(20):
            hub.deliver(BusRecord("c1", "native", "utterance", "{}", "i", id=f"1-{n}"))
        drained = []
        while not slow.queue.empty():
            drained.append(slow.queue.get_nowait())
        return slow, other_call, everything, drained, metrics

    slow, other_call, everything, drained, metrics = asyncio.run(main())
    assert slow.dropped and drained == [None]  # the subscriber's last word: dropped
    assert other_call.queue.empty() and not other_call.dropped
    assert everything.queue.empty() and not everything.dropped  # filtered out, not counted
    assert metrics.registry.get_sample_value("streamser_subscribers_dropped_total") == 1
    assert metrics.registry.get_sample_value("streamser_subscribers") == 3


def test_the_older_twilio_subscription_still_sends_bare_event_lines(loaded_model):
    async def go(server, url):
        await replay(url + "/twilio", TWILIO)
        # after the call: the backlog, as the older endpoint always sent it
        async with connect(f"{url}/twilio/subscribe/{CALL_SID}") as sub:
            return [json.loads(m) async for m in sub], sub.close_code

    lines, code = serve(loaded_model, go)
    assert code == 1000
    assert all(line["schema"] == "streamser.event/1" for line in lines)
    check_call(lines, ["customer", "agent"])
