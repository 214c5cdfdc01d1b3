"""`streamser serve`: the WebSocket endpoint for live calls (docs/PROTOCOL.md).

Binds to 127.0.0.1 unless told otherwise; any other address needs --token (or
an AudioHook API key). Logs are JSON lines on stderr. SIGINT/SIGTERM finish every
open call (last events and summary to each client), then exit 0.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import math
import os
import signal
import socket
import ssl
import sys

from streamser.cli.command import Command
from streamser.cli.exit_codes import EXIT_OK
from streamser.errors import StreamserError


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log record: time, level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure(parser: argparse.ArgumentParser) -> None:
    net = parser.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    net.add_argument("--port", type=int, default=8765, help="TCP port (default 8765)")
    net.add_argument(
        "--token",
        default=os.environ.get("STREAMSER_TOKEN"),
        help="bearer token clients must present (default: $STREAMSER_TOKEN); "
        "required when --host is not a loopback address",
    )
    net.add_argument("--audiohook-api-key", default=os.environ.get("STREAMSER_AUDIOHOOK_API_KEY"))
    net.add_argument(
        "--audiohook-client-secret",
        default=os.environ.get("STREAMSER_AUDIOHOOK_CLIENT_SECRET"),
        help="base64 client secret: AudioHook requests must then be signed",
    )
    net.add_argument(
        "--twilio-auth-token",
        default=os.environ.get("STREAMSER_TWILIO_AUTH_TOKEN"),
        help="Twilio auth token (default: $STREAMSER_TWILIO_AUTH_TOKEN): Twilio streams "
        "must then carry a valid X-Twilio-Signature",
    )
    net.add_argument(
        "--public-url",
        metavar="URL",
        help="wss://HOST[:PORT] that Twilio connects to, for its signature behind a proxy "
        "(default: wss:// and the request's Host header)",
    )
    net.add_argument("--certfile", help="TLS certificate chain (PEM)")
    net.add_argument("--keyfile", help="TLS private key (PEM)")
    net.add_argument(
        "--twilio-echo", action="store_true", help="also send events on the Twilio socket"
    )
    net.add_argument(
        "--compression",
        action="store_true",
        help="accept per-message deflate from clients that offer it (off: audio barely "
        "compresses, and deflate costs CPU on both ends)",
    )
    events = parser.add_argument_group("where events go (besides each call's own socket)")
    events.add_argument(
        "--redis",
        metavar="URL",
        default=os.environ.get("STREAMSER_REDIS_URL"),
        help="redis:// URL of a Redis shared by every instance (default: $STREAMSER_REDIS_URL): "
        "subscribers on any instance see every call; without it, this process's calls only",
    )
    events.add_argument(
        "--redis-prefix", default="streamser", metavar="WORD", help="prefix of the Redis keys"
    )
    events.add_argument(
        "--webhook",
        action="append",
        default=[],
        metavar="URL",
        help="POST every event of this process's calls to URL, signed (repeatable)",
    )
    events.add_argument(
        "--webhook-secret",
        default=os.environ.get("STREAMSER_WEBHOOK_SECRET"),
        help="key of the webhooks' HMAC-SHA256 signature (default: $STREAMSER_WEBHOOK_SECRET)",
    )
    run = parser.add_argument_group("capacity")
    run.add_argument(
        "--workers", type=int, default=1, help="inference threads sharing the model (default 1)"
    )
    run.add_argument(
        "--processes",
        type=int,
        default=1,
        help="server processes sharing the port via SO_REUSEPORT, each with --workers "
        "threads and its own model copy and metrics (default 1; see docs/BENCHMARKS.md)",
    )
    run.add_argument("--max-connections", type=int, default=256)
    run.add_argument("--max-message-bytes", type=int, default=64 * 1024)
    run.add_argument("--idle-timeout", type=float, default=30.0, metavar="S")
    parser.add_argument(
        "--model",
        metavar="NAME|PATH",
        help="fast (the default), accurate (see `streamser models`) or an ONNX model file",
    )
    parser.add_argument(
        "--gpu",
        action="store_true",
        help="run the model on CUDA (needs onnxruntime-gpu; one session per process)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        import prometheus_client  # noqa: F401
        import websockets  # noqa: F401
    except ImportError as error:
        from streamser.errors import MissingExtraError

        raise MissingExtraError("streamser serve", "serve", error.name or "websockets") from None
    if args.redis:
        try:
            import redis  # noqa: F401
        except ImportError:
            from streamser.errors import MissingExtraError

            raise MissingExtraError("streamser serve --redis", "redis", "redis") from None
    import asyncio
    from dataclasses import replace

    from streamser.model import EmotionModel, ModelOptions
    from streamser.server.app import Server, run_until_signalled
    from streamser.server.options import BusOptions, Limits, ServerOptions, WebhookOptions
    from streamser.streams import RecognizerOptions

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(min(root.level, logging.INFO))
    try:
        options = ServerOptions(
            host=args.host,
            port=args.port,
            token=args.token or None,
            audiohook_api_key=args.audiohook_api_key or None,
            audiohook_client_secret=args.audiohook_client_secret or None,
            twilio_auth_token=args.twilio_auth_token or None,
            public_url=args.public_url,
            threads=args.workers,
            reuse_port=args.processes > 1,
            certfile=args.certfile,
            keyfile=args.keyfile,
            twilio_echo=args.twilio_echo,
            compression=args.compression,
            recognizer=replace(RecognizerOptions(), ring_s=SERVER_RING_S, stats_interval_s=0),
            limits=Limits(
                max_connections=args.max_connections,
                max_message_bytes=args.max_message_bytes,
                hard_message_bytes=max(256 * 1024, args.max_message_bytes),
                idle_timeout_s=args.idle_timeout,
            ),
            bus=BusOptions(redis_url=args.redis or None, prefix=args.redis_prefix),
            webhooks=WebhookOptions(urls=tuple(args.webhook), secret=args.webhook_secret or None),
        )
    except ValueError as error:
        raise StreamserError(str(error)) from None
    if args.processes < 1:
        raise StreamserError(f"--processes {args.processes}: must be at least 1")
    if args.processes > 1 and args.port == 0:
        raise StreamserError("--processes needs a fixed --port (each process binds it)")
    _check_on_this_machine(args)
    from streamser.allocator import keep_large_buffers_out_of_heap
    from streamser.models import resolve_model

    keep_large_buffers_out_of_heap()  # before any call allocates; forked workers inherit it

    model_path = resolve_model(args.model)
    model_options = ModelOptions(gpu=args.gpu)
    if args.processes == 1:
        model = EmotionModel.load(model_path, model_options)
        try:
            asyncio.run(run_until_signalled(Server(model, options)))
        except OSError as error:
            if error.errno not in BIND_ERRNOS:
                raise
            reason = os.strerror(error.errno)
            raise StreamserError(f"cannot listen on {args.host}:{args.port} ({reason})") from None
        return EXIT_OK

    from streamser.server.prefork import serve_forked

    if not os.path.isfile(model_path):  # checked before forking, so it fails once, here
        raise StreamserError(f"{model_path}: no such model file")

    def serve_one() -> int:
        # Loaded after the fork: an ONNX Runtime session's threads do not survive fork.
        model = EmotionModel.load(model_path, model_options)
        asyncio.run(run_until_signalled(Server(model, options), (signal.SIGTERM,)))
        return EXIT_OK

    return serve_forked(args.processes, serve_one)


def _check_on_this_machine(args: argparse.Namespace) -> None:
    """What the options alone cannot tell: a NaN, the TLS files, the host name.

    Checked before the model loads, so a typo costs a second, not a traceback.
    """
    if not math.isfinite(args.idle_timeout) or args.idle_timeout <= 0:
        raise StreamserError(
            f"--idle-timeout {args.idle_timeout}: expected a positive, finite number of seconds"
        )
    if args.certfile is not None and args.keyfile is not None:
        for flag, path in (("--certfile", args.certfile), ("--keyfile", args.keyfile)):
            if not os.path.isfile(path):
                raise StreamserError(f"{flag} {path}: no such file")
        try:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(args.certfile, args.keyfile)
        except OSError as error:  # ssl.SSLError included
            reason = getattr(error, "reason", None) or error.strerror or str(error)
            raise StreamserError(
                f"--certfile {args.certfile}, --keyfile {args.keyfile}: "
                f"not a PEM certificate chain and its private key ({reason})"
            ) from None
    try:
        socket.getaddrinfo(args.host, args.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as error:  # socket.gaierror included
        reason = getattr(error, "strerror", None) or str(error)
        raise StreamserError(f"--host {args.host}: cannot resolve it ({reason})") from None


BIND_ERRNOS = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)
"""Why a server cannot listen: the port is taken, the address is not ours, or privileged."""

SERVER_RING_S = 30.0
"""Per-channel ring: 30 s (about 1 MB) holds the pending utterances of a call."""

COMMAND = Command(
    name="serve",
    help="WebSocket server for live calls (native, Twilio Media Streams, Genesys AudioHook)",
    configure=configure,
    run=run,
)
