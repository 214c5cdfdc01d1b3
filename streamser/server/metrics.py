"""Prometheus metrics and the `/healthz` document (needs the `serve` extra)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from streamser.errors import MissingExtraError
from streamser.events import UtteranceEvent

try:
    import prometheus_client as prom
except ImportError as error:  # pragma: no cover - exercised without the extra
    raise MissingExtraError("streamser serve", "serve", "prometheus-client") from error

LATENCY_BUCKETS_S = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
BUS_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 2.0, 10.0)


class ServerMetrics:
    """The server's counters, on a registry of its own (no global state).

    Args:
        model: Name and sha256 prefix of the model, for `/healthz`.
        threads: Inference threads, for `/healthz`.
    """

    def __init__(self, model: dict[str, str], threads: int) -> None:
        self.registry = prom.CollectorRegistry()
        self.model = model
        self.threads = threads
        self.started = time.monotonic()
        self.stopping = False
        self.active_calls = prom.Gauge(
            "streamser_active_calls", "Calls in progress", ["protocol"], registry=self.registry
        )
        self.connections = prom.Gauge(
            "streamser_connections", "Open WebSocket connections", registry=self.registry
        )
        self.calls = prom.Counter(
            "streamser_calls", "Calls finished", ["protocol", "status"], registry=self.registry
        )
        self.utterances = prom.Counter(
            "streamser_utterances",
            "Utterance events by status",
            ["status"],
            registry=self.registry,
        )
        self.inference = prom.Histogram(
            "streamser_inference_seconds",
            "Model run per utterance",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.event_latency = prom.Histogram(
            "streamser_event_latency_seconds",
            "From an utterance's last frame arriving to its event",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.dropped_audio = prom.Counter(
            "streamser_dropped_audio_seconds",
            "Audio in utterances dropped before inference (overrun)",
            registry=self.registry,
        )
        self.rejected = prom.Counter(
            "streamser_rejected_messages",
            "Client messages answered with a protocol error",
            ["reason"],
            registry=self.registry,
        )
        self.refused = prom.Counter(
            "streamser_refused_connections",
            "Upgrade requests refused",
            ["reason"],
            registry=self.registry,
        )
        self._bus_and_webhooks()

    def _bus_and_webhooks(self) -> None:
        """Where events go beyond the call: the bus, subscribers and webhooks."""
        registry = self.registry
        self.bus_records = prom.Counter(
            "streamser_bus_records",
            "Records this process's calls published (started, utterance, summary, error)",
            ["type"],
            registry=registry,
        )
        self.bus_lost = prom.Counter(
            "streamser_bus_lost_records",
            "Records that never reached the broker (buffer full while Redis was away)",
            registry=registry,
        )
        self.bus_buffered = prom.Gauge(
            "streamser_bus_buffered_records", "Records waiting for Redis", registry=registry
        )
        self.bus_up = prom.Gauge(
            "streamser_bus_redis_up", "1 while Redis answers (with --redis)", registry=registry
        )
        self.bus_delay = prom.Histogram(
            "streamser_bus_delay_seconds",
            "From a call publishing a record to this process's hub receiving it",
            buckets=BUS_BUCKETS_S,
            registry=registry,
        )
        self.subscribers = prom.Gauge(
            "streamser_subscribers", "Open event subscriptions", registry=registry
        )
        self.subscribers_dropped = prom.Counter(
            "streamser_subscribers_dropped",
            "Subscribers dropped for falling behind",
            registry=registry,
        )
        self.webhook_records = prom.Counter(
            "streamser_webhook_records",
            "Records per endpoint by outcome (delivered, failed, dropped)",
            ["endpoint", "outcome"],
            registry=registry,
        )
        self.webhook_requests = prom.Counter(
            "streamser_webhook_requests",
            "Webhook requests by HTTP status (or error)",
            ["endpoint", "code"],
            registry=registry,
        )
        self.webhook_queued = prom.Gauge(
            "streamser_webhook_queued_records",
            "Records waiting for an endpoint",
            ["endpoint"],
            registry=registry,
        )

    def observe(self, event: UtteranceEvent, inference_s: float) -> None:
        """Pool callback (any thread): one utterance done."""
        self.utterances.labels(event.status).inc()
        if event.status == "dropped":
            self.dropped_audio.inc(max(0.0, event.end - event.start))
            return
        self.inference.observe(inference_s)
        self.event_latency.observe(event.latency_ms / 1000.0)

    def render(self) -> tuple[bytes, str]:
        return prom.generate_latest(self.registry), prom.CONTENT_TYPE_LATEST

    def health(self) -> dict[str, Any]:
        calls = sum(
            sample.value for metric in self.active_calls.collect() for sample in metric.samples
        )
        return {
            "status": "stopping" if self.stopping else "ok",
            "active_calls": int(calls),
            "uptime_s": round(time.monotonic() - self.started, 1),
            "model": self.model,
            "threads": self.threads,
            "pid": os.getpid(),  # which process answered, when several share the port
        }

    def health_json(self) -> bytes:
        return json.dumps(self.health()).encode()
