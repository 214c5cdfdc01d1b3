"""Webhooks against a real HTTP server in a thread: signed, batched, in order,
retried with the same delivery id, bounded, and never in the way of a call."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from clients import native_messages, replay, two_channels
from test_server import check_call, serve

from streamser.server.options import WebhookOptions
from streamser.server.webhooks import endpoint_label, sign, verify

SECRET = "whsec-test"


class Receiver:
    """An HTTP endpoint that records every POST and answers with `codes` in turn
    (then 200). With `hold_first`, the first request waits until `release()`."""

    def __init__(self, codes=(), hold_first=False) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self._codes = list(codes)
        self._held = threading.Event()
        if not hold_first:
            self._held.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver._held.wait(60)
                receiver.requests.append((dict(self.headers), body))
                code = receiver._codes.pop(0) if receiver._codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/streamser?key=k"

    def release(self) -> None:
        self._held.set()

    def records(self) -> list[dict]:
        return [r for _, body in self.requests for r in json.loads(body)["records"]]

    def close(self) -> None:
        self._held.set()
        self.server.shutdown()
        self.server.server_close()


async def until(condition, seconds=60.0) -> None:
    """Waits for `condition()` (bounded, generously: a loaded machine is slow)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within the bound")
        await asyncio.sleep(0.05)


def webhook_count(server, url, outcome) -> float:
    labels = {"endpoint": endpoint_label(url), "outcome": outcome}
    return server.metrics.registry.get_sample_value("streamser_webhook_records_total", labels) or 0


def test_webhooks_get_every_record_signed_in_order_and_batched(loaded_model):
    receiver = Receiver(hold_first=True)

    async def go(server, url):
        client, _ = await replay(url + "/v1/stream", native_messages(two_channels(), "hooked"))
        receiver.release()  # the first request was held: everything since queued up
        await until(lambda: any(r["type"] == "summary" for r in receiver.records()))
        return client

    try:
        client = serve(
            loaded_model, go, webhooks=WebhookOptions(urls=(receiver.url,), secret=SECRET)
        )
    finally:
        receiver.close()
    for headers, body in receiver.requests:
        assert headers["Content-Type"] == "application/json"
        assert verify(body, headers["Streamser-Signature"], SECRET)
        document = json.loads(body)
        assert document["schema"] == "streamser.webhook/1"
        assert document["delivery"] == headers["Streamser-Delivery"]
    records = receiver.records()
    assert records[0]["type"] == "started" and records[0]["call_id"] == "hooked"
    assert all(r["id"] is None and r["protocol"] == "native" for r in records)
    events = [r["event"] for r in records[1:]]
    assert events == client[1:]  # what the call's own client got, in order
    check_call(events, ["agent", "customer"])
    # Batched: the first request (held until the call ended), then the rest in one.
    assert len(receiver.requests) <= 2 < len(records)


def test_a_failing_endpoint_is_retried_with_the_same_delivery_id(loaded_model):
    receiver = Receiver(codes=(503, 500))
    options = WebhookOptions(urls=(receiver.url,), secret=SECRET, backoff_s=0.05, batch_s=1.0)

    async def go(server, url):
        client, code = await replay(url + "/v1/stream", native_messages(two_channels(), "flaky"))
        await until(lambda: webhook_count(server, receiver.url, "delivered") > 0)
        label = endpoint_label(receiver.url)
        requests = {
            code: server.metrics.registry.get_sample_value(
                "streamser_webhook_requests_total", {"endpoint": label, "code": code}
            )
            for code in ("503", "500", "200")
        }
        return client, code, requests

    try:
        client, code, requests = serve(loaded_model, go, webhooks=options)
    finally:
        receiver.close()
    assert code == 1000 and client[-1]["type"] == "summary"
    first_three = receiver.requests[:3]
    assert len({headers["Streamser-Delivery"] for headers, _ in first_three}) == 1
    assert all(verify(body, h["Streamser-Signature"], SECRET) for h, body in first_three)
    assert requests["503"] == requests["500"] == 1 and requests["200"] >= 1


def test_an_endpoint_that_is_down_costs_the_call_nothing_and_is_counted(loaded_model):
    receiver = Receiver()
    url = receiver.url
    receiver.close()  # nothing listens there any more
    options = WebhookOptions(urls=(url,), secret=SECRET, attempts=2, backoff_s=0.05, max_batch=1)

    async def go(server, base):
        client, code = await replay(base + "/v1/stream", native_messages(two_channels(), "lost"))
        published = len(client)  # `started` and the events: as many as the bus's records
        await until(lambda: webhook_count(server, url, "failed") >= published)
        return client, code, webhook_count(server, url, "failed")

    client, code, failed = serve(loaded_model, go, webhooks=options)
    assert code == 1000
    check_call(client[1:], ["agent", "customer"])
    assert failed == len(client)


def test_the_queue_of_an_endpoint_that_does_not_answer_is_bounded(loaded_model):
    receiver = Receiver(hold_first=True)
    options = WebhookOptions(urls=(receiver.url,), secret=SECRET, max_batch=2, queue_records=3)
    many = two_channels(seconds_a=(0.6,) * 6, seconds_b=(0.6,) * 6)

    async def go(server, url):
        client, _ = await replay(url + "/v1/stream", native_messages(many, "bounded"))
        published = len(client)  # started + utterances + summary
        await until(lambda: webhook_count(server, receiver.url, "dropped") > 0)
        receiver.release()
        await until(
            lambda: (
                webhook_count(server, receiver.url, "delivered")
                + webhook_count(server, receiver.url, "dropped")
                == published
            )
        )
        return published

    try:
        published = serve(loaded_model, go, webhooks=options)
    finally:
        receiver.close()
    records = receiver.records()
    assert records[-1]["type"] == "summary"  # the newest are kept, the oldest dropped
    assert len(records) < published


def test_a_signature_verifies_only_for_its_body_secret_and_time():
    body = b'{"records":[]}'
    header = sign(body, SECRET, 1_700_000_000)
    assert verify(body, header, SECRET, now=1_700_000_100)
    assert not verify(body + b" ", header, SECRET, now=1_700_000_100)
    assert not verify(body, header, "another secret", now=1_700_000_100)
    assert not verify(body, header, SECRET, now=1_700_000_000 + 301)  # replayed too late
    assert not verify(body, None, SECRET)
    assert not verify(body, "t=soon,v1=00", SECRET)
    rotated = f"{header},v1={'0' * 64}"  # a receiver may be sent two signatures
    assert verify(body, rotated, SECRET, now=1_700_000_000)


def test_serve_refuses_a_webhook_without_a_secret_in_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "streamser", "serve", "--port", "0",
         "--webhook", "https://example.com/hook"],
        capture_output=True, text=True, env={**os.environ, "STREAMSER_WEBHOOK_SECRET": ""},
    )  # fmt: skip
    assert result.returncode == 2
    assert "--webhook-secret" in result.stderr and result.stderr.count("\n") == 1
