"""The server: routing, upgrade-time checks, TLS, and the graceful shutdown.

Routes (docs/PROTOCOL.md):

| path | what |
| --- | --- |
| `/v1/stream` | the native protocol |
| `/twilio` | Twilio Media Streams |
| `/audiohook` | Genesys Cloud AudioHook |
| `/v1/calls`, `/v1/calls/{id}/events` | calls in progress, one call's events |
| `/v1/events` | every call's events (`subscriptions`) |
| `/twilio/subscribe/{callSid}` | the older form of `/v1/calls/{callSid}/events` |
| `/healthz` | JSON health document (HTTP 200, or 503 while stopping) |
| `/metrics` | Prometheus text format |

Every call's events also leave through the event bus (`bus`): to subscribers on
this or (with `--redis`) any instance, and to webhooks.

Everything runs on one asyncio loop; inference runs on the pool's threads, so
a slow utterance never blocks another call's audio. Each connection is bounded
on its own (message size, queued messages, ring, pending utterances, idle and
send timeouts), so one client cannot stall the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from http import HTTPStatus

from streamser.errors import MissingExtraError
from streamser.model import EmotionModel
from streamser.server import audiohook, native, subscriptions, twilio
from streamser.server.auth import bearer_token, same_secret, verify_audiohook, verify_twilio
from streamser.server.bus import BrokerUnavailable, EventBus, Hub, LocalBroker, instance_name
from streamser.server.metrics import ServerMetrics
from streamser.server.options import ServerOptions
from streamser.server.pool import InferencePool
from streamser.server.webhooks import Webhooks
from streamser.server.wire import Context
from streamser.worker import Worker

try:
    from websockets.asyncio.server import serve
    from websockets.datastructures import Headers
    from websockets.http11 import Response
except ImportError as error:  # pragma: no cover - exercised without the extra
    raise MissingExtraError("streamser serve", "serve", "websockets") from error

log = logging.getLogger(__name__)

MAX_QUEUED_MESSAGES = 4
"""Messages `websockets` buffers per connection before it stops reading the socket."""
READ_BYTES = 64 * 1024
"""What each read of a connection's socket asks for. asyncio asks for 256 KiB, above
glibc's initial mmap threshold (128 KiB): while the threshold stays there (a process
that has freed no larger block, or one that fixes it with mallopt) every read, nearly
always of one 20 ms message, maps a fresh buffer and gives it back: 12 us a read
against 1 us at 64 KiB (docs/BENCHMARKS.md). Once glibc has raised the threshold the
two cost the same."""
DRAIN_TIMEOUT_S = 30.0
"""Graceful shutdown waits this long for calls to flush and send their summaries."""
HAND_ON_TIMEOUT_S = 5.0
"""Then this long, at most, for webhooks and the broker to hand on what they hold."""
SUBSCRIPTIONS = (
    subscriptions.CALL_EVENTS,
    subscriptions.EVENTS,
    subscriptions.LEGACY,
)


class Server:
    """A running `streamser serve`.

    Args:
        model: The shared model (one session for every call).
        options: Address, auth, TLS, threads, limits.

    Use `await start()`, then `await shutdown()`; or `async with Server(...)`.
    """

    def __init__(self, model: EmotionModel, options: ServerOptions | None = None) -> None:
        options = options or ServerOptions()
        self.options = options
        self.metrics = ServerMetrics(
            {"name": model.metadata.name, "sha256": model.short_sha}, options.threads
        )
        worker = Worker.for_model(model, options.recognizer.ood)
        self.pool = InferencePool(worker, options.threads, observe=self.metrics.observe)
        self._server = None
        self._handlers: set[asyncio.Task] = set()
        self._connections = 0
        self.port: int | None = None
        self.instance = instance_name()
        self.webhooks: Webhooks | None = None

    async def start(self) -> None:
        bus = self._make_bus()
        self.context = Context(self.options, self.pool, self.metrics, asyncio.Event(), bus)
        await bus.start()
        if self.webhooks is not None:
            self.webhooks.start()
        self._server = await serve(
            self._handle,
            self.options.host,
            self.options.port,
            process_request=self._process_request,
            ssl=self._ssl_context(),
            max_size=self.options.limits.hard_message_bytes,
            max_queue=MAX_QUEUED_MESSAGES,
            write_limit=self.options.limits.send_buffer_bytes,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=5,
            server_header="streamser",
            compression="deflate" if self.options.compression else None,
            reuse_port=self.options.reuse_port or None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        scheme = "wss" if self.options.certfile else "ws"
        log.info("listening on %s://%s:%d", scheme, self.options.host, self.port)

    async def shutdown(self, drain_timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Stops accepting, lets every call flush and send its summary, then closes."""
        if self._server is None:
            return
        self.metrics.stopping = True
        self._server.close(close_connections=False)
        self.context.stop.set()
        if self._handlers:
            _, pending = await asyncio.wait(set(self._handlers), timeout=drain_timeout_s)
            if pending:
                log.warning(
                    "%d call(s) did not finish within %.0f s", len(pending), drain_timeout_s
                )
        self._server.close(close_connections=True)
        await self._server.wait_closed()
        self._server = None
        hand_on_s = min(drain_timeout_s, HAND_ON_TIMEOUT_S)
        if self.webhooks is not None:
            await self.webhooks.close(hand_on_s)
        await self.context.bus.close(hand_on_s)
        await asyncio.get_running_loop().run_in_executor(None, self.pool.close)
        log.info("stopped")

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    def _make_bus(self) -> EventBus:
        """The in-process bus, or Redis with `--redis`; webhooks as a sink."""
        options = self.options.bus
        hub = Hub(self.metrics, options.subscriber_queue)
        if options.redis_url:
            from streamser.server.redis_broker import RedisBroker  # the `redis` extra

            broker = RedisBroker(hub, options.redis_url, options, self.instance, self.metrics)
        else:
            broker = LocalBroker(hub, options)
        sinks = []
        if self.options.webhooks.urls:
            self.webhooks = Webhooks(self.options.webhooks, self.metrics, self.instance)
            sinks.append(self.webhooks.offer)
        return EventBus(broker, sinks, self.instance, self.metrics)

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.options.certfile is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.options.certfile, self.options.keyfile)
        return context

    async def _process_request(self, connection, request) -> Response | None:
        path, _, query = request.path.partition("?")
        if path == "/healthz":
            status = HTTPStatus.SERVICE_UNAVAILABLE if self.metrics.stopping else HTTPStatus.OK
            return _response(status, self.metrics.health_json(), "application/json")
        if path == "/metrics":
            body, content_type = self.metrics.render()
            return _response(HTTPStatus.OK, body, content_type)
        found = _route(path)
        if found is None:
            return self._refuse(HTTPStatus.NOT_FOUND, "not_found", f"no endpoint at {path}")
        route = found[0]
        if route == subscriptions.CALLS:
            return self._bearer(request) or await self._calls()
        if self.metrics.stopping:
            return self._refuse(HTTPStatus.SERVICE_UNAVAILABLE, "stopping", "server is stopping")
        if self._connections >= self.options.limits.max_connections:
            return self._refuse(HTTPStatus.SERVICE_UNAVAILABLE, "busy", "too many connections")
        token = self.options.token
        if route == "native" or route in SUBSCRIPTIONS:
            refused = self._bearer(request)
            if refused is not None:
                return refused
        if route in SUBSCRIPTIONS:
            problem = subscriptions.check_query(route, query)
            if problem is not None:
                return self._refuse(HTTPStatus.BAD_REQUEST, "bad_request", problem)
        if route == "twilio":
            auth_token = self.options.twilio_auth_token
            if auth_token is not None:
                base = self.options.public_url or f"wss://{request.headers.get('Host', '')}"
                url = base.rstrip("/") + request.path
                if not verify_twilio(request.headers.get("X-Twilio-Signature"), url, auth_token):
                    log.warning("Twilio connection refused: no valid X-Twilio-Signature")
                    return self._refuse(HTTPStatus.UNAUTHORIZED, "auth", "unauthorized")
            elif token is None and not self.options.loopback:
                return self._refuse(HTTPStatus.FORBIDDEN, "auth", "Twilio is not configured")
        if route == "audiohook":
            key = self.options.audiohook_api_key
            if key is None and token is not None:
                # No AudioHook key of its own: the server's token guards it, as every
                # other endpoint (AudioHook clients send it as their API key).
                presented = request.headers.get("X-API-KEY") or bearer_token(request.headers)
                if not same_secret(presented, token):
                    return self._refuse(HTTPStatus.UNAUTHORIZED, "auth", "unauthorized")
            elif key is None and not self.options.loopback:
                return self._refuse(HTTPStatus.FORBIDDEN, "auth", "AudioHook is not configured")
            if key is not None:
                reason = verify_audiohook(
                    request.headers, request.path, key, self.options.audiohook_client_secret
                )
                if reason is not None:
                    log.warning("AudioHook connection refused: %s", reason)
                    return self._refuse(HTTPStatus.UNAUTHORIZED, "auth", "unauthorized")
        return None

    def _bearer(self, request) -> Response | None:
        """Refuses a request for the native protocol or the events without the token."""
        token = self.options.token
        if token is None and not self.options.loopback:
            return self._refuse(HTTPStatus.FORBIDDEN, "auth", "no --token is configured")
        if token is not None and not same_secret(bearer_token(request.headers), token):
            return self._refuse(HTTPStatus.UNAUTHORIZED, "auth", "bearer token required")
        return None

    async def _calls(self) -> Response:
        try:
            body = await subscriptions.calls_document(self.context.bus)
        except BrokerUnavailable as error:
            log.warning("GET /v1/calls: %s", error)
            status = HTTPStatus.SERVICE_UNAVAILABLE
            return self._refuse(status, "broker", "event broker unavailable")
        return _response(HTTPStatus.OK, body, "application/json")

    def _refuse(self, status: HTTPStatus, reason: str, text: str) -> Response:
        self.metrics.refused.labels(reason).inc()
        return _response(status, (text + "\n").encode(), "text/plain; charset=utf-8")

    async def _handle(self, ws) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._connections += 1
        self.metrics.connections.inc()
        if isinstance(getattr(ws.transport, "max_size", None), int):  # a plain socket's
            ws.transport.max_size = READ_BYTES  # asyncio transport; TLS keeps its own buffer
        kernel_buffer = self.options.limits.socket_send_buffer_bytes
        sock = ws.transport.get_extra_info("socket")
        if kernel_buffer is not None and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, kernel_buffer)
        try:
            path, _, query = ws.request.path.partition("?")
            route, call_id = _route(path) or ("", None)
            if route == "native":
                await native.run(self.context, ws)
            elif route == "twilio":
                await twilio.run(self.context, ws)
            elif route == "audiohook":
                await audiohook.run(self.context, ws)
            elif route in SUBSCRIPTIONS:
                await subscriptions.serve(self.context, ws, route, call_id, query)
        except Exception:
            log.exception("connection %s failed", ws.id)
        finally:
            self._connections -= 1
            self.metrics.connections.dec()
            self._handlers.discard(task)


def _route(path: str) -> tuple[str, str | None] | None:
    """(endpoint, call id) for a path, or None if nothing is there."""
    if path == native.PATH:
        return "native", None
    if path == twilio.PATH:
        return "twilio", None
    if path == audiohook.PATH:
        return "audiohook", None
    return subscriptions.route(path)


def _response(status: HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return Response(status.value, status.phrase, headers, body)


async def run_until_signalled(
    server: Server, signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
) -> None:
    """Runs until one of `signals`, then shuts down gracefully (a second signal: at once)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in signals:
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    await server.start()
    await stop.wait()
    log.info("shutting down: finishing open calls")
    for signum in signals:
        loop.remove_signal_handler(signum)
    await server.shutdown()
