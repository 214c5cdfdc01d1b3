"""The event bus across instances, on a real `redis-server`: a subscriber on one
instance follows calls held by another, loses nothing when its own instance
restarts, and calls go on while Redis is away (buffered within a bound, the rest
counted as lost)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from clients import DATA, load_session, native_messages, replay, two_channels
from conftest import free_port
from test_subscriptions import (
    AUDIOHOOK,
    check_records,
    collect,
    events_of,
    listed,
    native_call,
    subscribed,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streamser.server.app import Server
from streamser.server.options import BusOptions, ServerOptions

TWILIO = load_session(DATA / "twilio_session.jsonl")


def start_serve(model: Path, port: int, redis_url: str, log: Path) -> subprocess.Popen:
    """`streamser serve` on loopback sharing `redis_url`; returns once it answers."""
    command = [sys.executable, "-m", "streamser", "serve", "--port", str(port),
               "--model", str(model), "--redis", redis_url]  # fmt: skip
    with log.open("a") as out:
        process = subprocess.Popen(command, stderr=out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return process
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"streamser serve did not answer on port {port}: see {log}")


def stop_serve(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(60)


async def until_subscribed(port: int, seconds: float = 60.0) -> None:
    """Waits (bounded) until the server on `port` holds a subscription."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _, text = await asyncio.get_running_loop().run_in_executor(None, _metrics, port)
        if "\nstreamser_subscribers 1.0" in text:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no subscriber on port {port} within {seconds:g} s")


def _metrics(port: int) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        return reply.status, reply.read().decode()


async def until(condition, seconds=60.0) -> None:
    """Waits for `condition()` (bounded, generously: a loaded machine is slow)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within the bound")
        await asyncio.sleep(0.05)


def test_a_subscriber_on_b_follows_a_call_on_a_and_resumes_after_b_restarts(
    untrained_model, redis_server, tmp_path
):
    port_a, port_b = free_port(), free_port()
    log = tmp_path / "serve.log"
    a = start_serve(untrained_model, port_a, redis_server.url, log)
    b = start_serve(untrained_model, port_b, redis_server.url, log)
    audio = two_channels(seconds_a=(0.8,) * 4, seconds_b=(0.8,) * 4)

    async def main():
        loop = asyncio.get_running_loop()
        records = []
        ws = await connect(f"ws://127.0.0.1:{port_b}/v1/calls/relay/events")
        hold = asyncio.Event()  # the call on A ends only once the subscriber is back
        call = asyncio.ensure_future(
            native_call(f"ws://127.0.0.1:{port_a}", native_messages(audio, "relay"),
                        asyncio.Event(), pace_s=0.01, hold=hold)
        )  # fmt: skip
        while len(records) < 2:  # the call has begun and said something
            records.append(json.loads(await asyncio.wait_for(ws.recv(), 60)))
        restart = loop.run_in_executor(None, stop_serve, b)
        try:
            async for message in ws:  # whatever B sent before it went
                records.append(json.loads(message))
        except ConnectionClosed:
            pass
        await restart
        again = await loop.run_in_executor(
            None, start_serve, untrained_model, port_b, redis_server.url, log
        )
        resumed = asyncio.ensure_future(
            collect(f"ws://127.0.0.1:{port_b}/v1/calls/relay/events?after={records[-1]['id']}")
        )
        await until_subscribed(port_b)
        hold.set()
        rest, code = await resumed
        return records + rest, code, await call, again

    again = None
    try:
        records, code, client, again = asyncio.run(main())
    finally:
        for process in (a, b, again):
            if process is not None and process.poll() is None:
                stop_serve(process)
    assert code == 1000
    check_records(records, "relay", "native", ["agent", "customer"])
    assert events_of(records) == client[1:]  # every event, once, in order


def test_every_instance_lists_and_follows_the_calls_of_every_instance(loaded_model, redis_server):
    def options():
        return ServerOptions(
            port=0, audiohook_api_key="k", bus=BusOptions(redis_url=redis_server.url)
        )

    audio = two_channels(seconds_a=(1.0, 1.0), seconds_b=(1.0, 1.0))

    async def main():
        async with Server(loaded_model, options()) as a, Server(loaded_model, options()) as b:
            url_a, url_b = f"ws://127.0.0.1:{a.port}", f"ws://127.0.0.1:{b.port}"
            everything = await connect(url_b + "/v1/events")
            await subscribed(b, 1)
            first, hold = asyncio.Event(), asyncio.Event()
            call = asyncio.ensure_future(
                native_call(url_a, native_messages(audio, "listed"), first, hold=hold)
            )
            await asyncio.wait_for(first.wait(), 60)
            _, listing = await listed(url_b, "listed")  # while the call is in progress
            hold.set()
            await asyncio.gather(
                call,
                replay(url_b + "/audiohook", AUDIOHOOK, headers={"X-API-KEY": "k"}),
                replay(url_a + "/twilio", TWILIO),
            )
            records = []
            while sum(r["type"] == "summary" for r in records) < 3:
                records.append(json.loads(await asyncio.wait_for(everything.recv(), 60)))
            await everything.close()
            return listing, records, a.instance, b.instance

    listing, records, instance_a, instance_b = asyncio.run(main())
    assert listing["broker"] == "redis" and listing["instance"] == instance_b
    (call,) = [c for c in listing["calls"] if c["call_id"] == "listed"]
    assert call["instance"] == instance_a and call["protocol"] == "native"
    by_call: dict[str, list] = {}
    for record in records:
        by_call.setdefault(record["call_id"], []).append(record)
    assert len(by_call) == 3
    for call_id, mine in by_call.items():
        check_records(mine, call_id, mine[0]["protocol"], mine[0]["call"]["streams"])
    ids = [r["id"] for r in records]
    assert len(set(ids)) == len(ids)


def _metric(server, name) -> float:
    return server.metrics.registry.get_sample_value(name) or 0.0


def test_calls_go_on_while_redis_is_away_and_their_events_follow_when_it_returns(
    loaded_model, redis_server
):
    options = ServerOptions(port=0, bus=BusOptions(redis_url=redis_server.url))

    async def main():
        loop = asyncio.get_running_loop()
        async with Server(loaded_model, options) as server:
            url = f"ws://127.0.0.1:{server.port}"
            await loop.run_in_executor(None, redis_server.stop)
            client, code = await replay(url + "/v1/stream", native_messages(two_channels(), "away"))
            await until(lambda: _metric(server, "streamser_bus_redis_up") == 0)
            await until(lambda: _metric(server, "streamser_bus_buffered_records") == len(client))
            await loop.run_in_executor(None, redis_server.start)
            await until(lambda: _metric(server, "streamser_bus_buffered_records") == 0)
            records, sub_code = await collect(url + "/v1/calls/away/events")
            return (
                client,
                code,
                records,
                sub_code,
                _metric(server, "streamser_bus_lost_records_total"),
            )

    client, code, records, sub_code, lost = asyncio.run(main())
    assert code == 1000 and client[-1]["type"] == "summary"  # the call did not notice
    assert sub_code == 1000 and lost == 0
    check_records(records, "away", "native", ["agent", "customer"])
    assert events_of(records) == client[1:]


def test_past_its_bound_the_outage_buffer_keeps_the_newest_and_counts_the_rest(
    loaded_model, redis_server
):
    options = ServerOptions(port=0, bus=BusOptions(redis_url=redis_server.url, buffer_records=16))
    many = two_channels(seconds_a=(0.6,) * 12, seconds_b=(0.6,) * 12)

    async def main():
        loop = asyncio.get_running_loop()
        async with Server(loaded_model, options) as server:
            url = f"ws://127.0.0.1:{server.port}"
            await loop.run_in_executor(None, redis_server.stop)
            client, code = await replay(url + "/v1/stream", native_messages(many, "burst"))
            lost = lambda: _metric(server, "streamser_bus_lost_records_total")  # noqa: E731
            await until(lambda: lost() == len(client) - 16)
            await loop.run_in_executor(None, redis_server.start)
            await until(lambda: _metric(server, "streamser_bus_buffered_records") == 0)
            records, sub_code = await collect(url + "/v1/calls/burst/events")
            return client, code, records, sub_code, lost()

    client, code, records, sub_code, lost = asyncio.run(main())
    assert code == 1000 and client[-1]["type"] == "summary"
    assert len(client) == 26  # started, 24 utterances, summary: as many records
    assert lost == 10 and sub_code == 1000
    assert events_of(records) == client[-16:]  # the newest 16, ending with the summary


def test_serve_redis_without_the_extra_names_it_in_one_line(untrained_model):
    code = (
        "import sys; sys.modules['redis'] = None; "
        "from streamser.cli.main import main; "
        f"sys.exit(main(['serve', '--port', '0', '--model', {str(untrained_model)!r}, "
        "'--redis', 'redis://127.0.0.1:1/0']))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert "'redis' extra" in result.stderr and result.stderr.count("\n") == 1
