"""What a server is told: where to listen, who may connect and how much each call may hold."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from streamser.streams import RecognizerOptions

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Limits:
    """Bounds that keep one client from taking memory or time from the others.

    Attributes:
        max_connections: Open WebSocket connections at once; more are refused (HTTP 503).
        max_message_bytes: Largest message a client may send; a bigger one is
            answered with a protocol error and dropped, the call goes on.
        hard_message_bytes: Largest message the WebSocket layer reads at all; beyond it
            the connection is closed with code 1009.
        max_pending_utterances: Utterances per call between segmenter and client.
            Native calls that reach it wait (back-pressure: the server stops reading
            their socket); platform calls, which cannot slow down, drop the oldest
            (`dropped`, reason `overrun`).
        idle_timeout_s: A call that sends nothing for this long is finished and closed.
        send_timeout_s: A client that does not read its events for this long is
            dropped (the connection is aborted; the call ends as if it had left).
        send_buffer_bytes: Unread event bytes the WebSocket layer holds per
            connection once the kernel's socket buffer is full; beyond it sending
            waits (and `send_timeout_s` runs). Bounds what a client that stops
            reading costs the process.
        socket_send_buffer_bytes: The kernel's send buffer per connection (SO_SNDBUF);
            None leaves it to the kernel's autotuning. A fixed 64 KiB measured
            slower under load (docs/BENCHMARKS.md), hence the default.
        max_channels: Channels per call.
        open_timeout_s: Time from connecting to the first (start/open) message.
    """

    max_connections: int = 256
    max_message_bytes: int = 64 * 1024
    hard_message_bytes: int = 256 * 1024
    max_pending_utterances: int = 4
    idle_timeout_s: float = 30.0
    send_timeout_s: float = 10.0
    send_buffer_bytes: int = 64 * 1024
    socket_send_buffer_bytes: int | None = None
    max_channels: int = 2
    open_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("max_connections", "max_message_bytes", "max_pending_utterances"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.send_buffer_bytes < 4096 or (self.socket_send_buffer_bytes or 4096) < 4096:
            raise ValueError("send buffers must be at least 4096 bytes")
        if self.hard_message_bytes < self.max_message_bytes:
            raise ValueError("hard_message_bytes must be at least max_message_bytes")
        for name in ("idle_timeout_s", "send_timeout_s", "open_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not 1 <= self.max_channels <= 8:
            raise ValueError("max_channels must be within 1..8")


@dataclass(frozen=True)
class BusOptions:
    """Where a server's events go beyond each call's own connection (`streamser.server.bus`).

    Attributes:
        redis_url: `redis://` or `rediss://` URL of the shared broker; None keeps the
            bus in this process (subscribers see only this process's calls).
        prefix: Prefix of every Redis key, so several deployments can share a Redis.
        call_backlog: Records kept per call for subscribers who join late (the Redis
            per-call stream's MAXLEN, or the in-process backlog).
        global_backlog: Records kept across all calls (the Redis global stream's
            MAXLEN), the window within which `/v1/events?after=ID` resumes losslessly.
        retention_s: How long an ended call's records stay for late subscribers.
        buffer_records: Records held in this process while Redis cannot be reached;
            beyond it the oldest are counted as lost. Calls never wait for Redis.
        subscriber_queue: Records a subscriber may fall behind by before it is dropped.
    """

    redis_url: str | None = None
    prefix: str = "streamser"
    call_backlog: int = 2048
    global_backlog: int = 100_000
    retention_s: float = 3600.0
    buffer_records: int = 50_000
    subscriber_queue: int = 1024

    def __post_init__(self) -> None:
        if self.redis_url is not None and not self.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError(f"Redis URL {self.redis_url!r} must start with redis:// or rediss://")
        if not self.prefix or any(c.isspace() for c in self.prefix):
            raise ValueError("the Redis key prefix must be a non-empty word")
        for name in ("call_backlog", "global_backlog", "buffer_records", "subscriber_queue"):
            if getattr(self, name) < 16:
                raise ValueError(f"{name} must be at least 16")
        if self.retention_s <= 0:
            raise ValueError("retention_s must be positive")


@dataclass(frozen=True)
class WebhookOptions:
    """HTTP endpoints that receive every event of this process's calls (`server.webhooks`).

    Attributes:
        urls: `http://` or `https://` endpoints; each gets every record.
        secret: Key of the HMAC-SHA256 signature each request carries; required
            with any URL, so a receiver can tell our requests from anyone's.
        batch_s: Records produced within this window go out in one request.
        max_batch: Records per request at most.
        queue_records: Records waiting per endpoint; beyond it the oldest are dropped
            (counted), so a failing endpoint costs bounded memory and never a call.
        attempts: Tries per request (the first and the retries).
        backoff_s: Wait before the first retry, doubled for each further one.
        timeout_s: Time allowed for one request.
    """

    urls: tuple[str, ...] = ()
    secret: str | None = None
    batch_s: float = 0.2
    max_batch: int = 100
    queue_records: int = 10_000
    attempts: int = 6
    backoff_s: float = 0.5
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for url in self.urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"webhook URL {url!r} must start with http:// or https://")
        if self.urls and not self.secret:
            raise ValueError("--webhook needs --webhook-secret (requests are signed with it)")
        if self.batch_s < 0 or self.backoff_s <= 0 or self.timeout_s <= 0:
            raise ValueError("webhook batch window, backoff and timeout must be positive")
        if self.max_batch < 1 or self.queue_records < self.max_batch or self.attempts < 1:
            raise ValueError("webhook max_batch, queue_records and attempts must be positive")


@dataclass(frozen=True)
class ServerOptions:
    """Everything about a server except the model.

    Attributes:
        host: Address to bind; loopback by default. Any other address needs a
            token, a Twilio auth token or an AudioHook API key, and
            only the endpoints so protected are open there.
        port: TCP port; 0 picks a free one (tests).
        token: Bearer token for the native protocol and subscribers; also checked
            in Twilio's `customParameters.token`. None: no token required (loopback only).
        audiohook_api_key: The `X-API-KEY` AudioHook clients must present; None
            disables the AudioHook endpoint when bound beyond loopback.
        audiohook_client_secret: Base64 client secret for AudioHook's request
            signatures; None accepts unsigned requests with a valid API key.
        twilio_auth_token: The Twilio account's auth token: Twilio streams must then
            carry a valid `X-Twilio-Signature`.
        public_url: Scheme and host Twilio connects to (`wss://calls.example.com`),
            needed for the signature behind a proxy; None: `wss://` and the Host header.
        threads: Inference threads sharing the one model session.
        reuse_port: Bind with SO_REUSEPORT, so several processes share the port
            (`streamser.server.prefork`).
        certfile, keyfile: TLS certificate chain and key (PEM); both or neither.
        twilio_echo: Also send events on the Twilio socket itself (only for
            peers that accept them; Twilio's own bidirectional streams do not).
        compression: Accept WebSocket per-message deflate (RFC 7692) from clients
            that offer it. Off by default: companded G.711 audio compresses little,
            and every message then costs zlib work on both ends and a compression
            context per connection (docs/BENCHMARKS.md).
        recognizer: Segmenter, VAD, OOD and ring settings for every call.
        limits: Per-connection bounds.
        bus: Subscriptions' backlog and the shared broker (Redis).
        webhooks: Endpoints that receive every event.
    """

    host: str = LOOPBACK
    port: int = 8765
    token: str | None = None
    audiohook_api_key: str | None = None
    audiohook_client_secret: str | None = None
    twilio_auth_token: str | None = None
    public_url: str | None = None
    threads: int = 1
    reuse_port: bool = False
    certfile: str | None = None
    keyfile: str | None = None
    twilio_echo: bool = False
    compression: bool = False
    recognizer: RecognizerOptions = field(default_factory=RecognizerOptions)
    limits: Limits = field(default_factory=Limits)
    bus: BusOptions = field(default_factory=BusOptions)
    webhooks: WebhookOptions = field(default_factory=WebhookOptions)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is outside 0..65535")
        if self.threads < 1:
            raise ValueError("threads must be at least 1")
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("TLS needs both a certificate file and a key file")
        if not is_loopback(self.host) and not (
            self.token or self.audiohook_api_key or self.twilio_auth_token
        ):
            raise ValueError(
                f"binding to {self.host} (beyond this machine) needs --token, "
                "--twilio-auth-token or --audiohook-api-key; without one, bind to 127.0.0.1"
            )
        if self.public_url is not None and not self.public_url.startswith(("wss://", "ws://")):
            raise ValueError(f"public URL {self.public_url!r} must start with wss:// or ws://")

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
