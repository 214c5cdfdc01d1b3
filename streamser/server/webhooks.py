"""Webhooks: every record of this process's calls, POSTed as JSON to each endpoint.

Per endpoint: a bounded queue (once full, the oldest record is dropped and
counted), one request in flight so records arrive in order, the records made
within `WebhookOptions.batch_s` sent together, and retries with exponential
backoff on connection errors, timeouts, 408, 429 and 5xx; any other answer is
final. A failing endpoint costs its own queue and thread, never a call.

Each request (docs/PROTOCOL.md, "Webhooks"):

- body: `{"schema": "streamser.webhook/1", "delivery", "instance", "records": [...]}`,
  each record the envelope subscribers receive, with `id` null;
- `Streamser-Delivery`: a UUID, the same on every retry, to deduplicate with;
- `Streamser-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`,
  keyed with the webhook secret and signed afresh on each attempt (Stripe's
  scheme): a receiver checks the MAC and refuses a timestamp older than its
  tolerance, so a captured request cannot be replayed later (`verify`).

HTTP is the standard library's `urllib` on a thread per endpoint: one request
per batch window is too few for a thread hop to matter, and it brings TLS
verification and the proxy settings of the environment without a new
dependency. Redirects are not followed: a signed POST is not re-sent elsewhere.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

from streamser.server.metrics import ServerMetrics
from streamser.server.options import WebhookOptions
from streamser.server.records import BusRecord

log = logging.getLogger(__name__)

WEBHOOK_SCHEMA = "streamser.webhook/1"
SIGNATURE_HEADER = "Streamser-Signature"
DELIVERY_HEADER = "Streamser-Delivery"
DEFAULT_TOLERANCE_S = 300.0
"""How old a signed timestamp `verify` accepts (Stripe's default)."""
MAX_BACKOFF_S = 30.0
NO_ANSWER = 0
"""`post`'s code when no HTTP answer came (refused, reset, timed out)."""


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The signature header's value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    body: bytes,
    header: str | None,
    secret: str,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Whether a request's `Streamser-Signature` header signs `body` with `secret`,
    made within `tolerance_s` of `now`. For receivers (and tests)."""
    if not header:
        return False
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(body, secret, timestamp).rpartition("v1=")[2]
    return any(hmac.compare_digest(expected, given) for given in parts.get("v1", []))


def endpoint_label(url: str) -> str:
    """The URL without credentials or query, for metrics and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect is an answer, not followed
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    """POSTs once (in a pool thread); the HTTP status, or NO_ANSWER."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            response.read(4096)
            return response.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code
    except (OSError, ValueError) as error:  # refused, reset, timed out, bad TLS
        log.debug("webhook %s: %s", endpoint_label(url), error)
        return NO_ANSWER


def retryable(code: int) -> bool:
    return code == NO_ANSWER or code in (408, 429) or code >= 500


class Endpoint:
    """One URL: its queue, its sender task and its counters."""

    def __init__(
        self,
        url: str,
        options: WebhookOptions,
        metrics: ServerMetrics,
        executor: ThreadPoolExecutor,
        instance: str,
    ) -> None:
        self.url = url
        self.label = endpoint_label(url)
        self.options = options
        self._metrics = metrics
        self._executor = executor
        self._instance = instance
        self._queue: deque[BusRecord] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._in_flight = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def offer(self, record: BusRecord) -> None:
        """Queues a record; never waits (a full queue loses its oldest record)."""
        if len(self._queue) >= self.options.queue_records:
            self._queue.popleft()
            self._count("dropped", 1)
        self._queue.append(record)
        self._metrics.webhook_queued.labels(self.label).set(len(self._queue))
        self._wake.set()

    async def close(self, timeout_s: float) -> None:
        """Sends what is queued within `timeout_s`; what is left is counted as dropped."""
        self._closing = True
        self._wake.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=timeout_s)
        if not done:
            self._task.cancel()
            left = len(self._queue) + self._in_flight
            self._queue.clear()
            if left:
                self._count("dropped", left)
                log.warning("webhook %s: %d record(s) not delivered at shutdown", self.label, left)

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if not self._closing and len(self._queue) < self.options.max_batch:
                await asyncio.sleep(self.options.batch_s)  # let the window fill
            count = min(self.options.max_batch, len(self._queue))
            batch = [self._queue.popleft() for _ in range(count)]
            self._metrics.webhook_queued.labels(self.label).set(len(self._queue))
            self._in_flight = count
            await self._deliver(batch)
            self._in_flight = 0

    async def _deliver(self, batch: list[BusRecord]) -> None:
        delivery = str(uuid.uuid4())
        body = self.body(batch, delivery)
        loop = asyncio.get_running_loop()
        code = NO_ANSWER
        for attempt in range(self.options.attempts):
            if attempt:
                wait = self.options.backoff_s * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)
                await asyncio.sleep(min(wait, MAX_BACKOFF_S))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "streamser-webhooks",
                DELIVERY_HEADER: delivery,
                SIGNATURE_HEADER: sign(body, self.options.secret or "", int(time.time())),
            }
            code = await loop.run_in_executor(
                self._executor, post, self.url, body, headers, self.options.timeout_s
            )
            self._metrics.webhook_requests.labels(self.label, str(code or "error")).inc()
            if 200 <= code < 300:
                self._count("delivered", len(batch))
                return
            if not retryable(code):
                break
        self._count("failed", len(batch))
        log.warning(
            "webhook %s: %d record(s) not delivered (last answer: %s)",
            self.label,
            len(batch),
            code or "no answer",
        )

    def body(self, batch: list[BusRecord], delivery: str) -> bytes:
        head = json.dumps(
            {"schema": WEBHOOK_SCHEMA, "delivery": delivery, "instance": self._instance},
            separators=(",", ":"),
        )
        records = ",".join(record.envelope(placed=False) for record in batch)
        return f'{head[:-1]},"records":[{records}]}}'.encode()

    def _count(self, outcome: str, records: int) -> None:
        self._metrics.webhook_records.labels(self.label, outcome).inc(records)


class Webhooks:
    """Every configured endpoint; a sink of the event bus (`EventBus` sinks)."""

    def __init__(self, options: WebhookOptions, metrics: ServerMetrics, instance: str) -> None:
        self._executor = ThreadPoolExecutor(
            max(1, len(options.urls)), thread_name_prefix="streamser-webhook"
        )
        self.endpoints = [
            Endpoint(url, options, metrics, self._executor, instance) for url in options.urls
        ]

    def start(self) -> None:
        for endpoint in self.endpoints:
            endpoint.start()

    def offer(self, record: BusRecord) -> None:
        for endpoint in self.endpoints:
            endpoint.offer(record)

    async def close(self, timeout_s: float) -> None:
        await asyncio.gather(*(endpoint.close(timeout_s) for endpoint in self.endpoints))
        self._executor.shutdown(wait=False)
