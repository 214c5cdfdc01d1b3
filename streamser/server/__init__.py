"""`streamser serve`: many live calls over WebSockets, one shared model.

Layout, one job per module:

- `options`: the server's frozen options and limits.
- `pool`: the inference pool, threads around the one shared model session.
- `session`: the session core, per call: channels, segmenters, ordered events.
- `native`, `twilio`, `audiohook`: one thin adapter per wire protocol.
- `auth`: bearer tokens and AudioHook API keys and signatures.
- `metrics`: Prometheus metrics and the health document.
- `records`: what the event bus carries (records, their ids, filters).
- `bus`: the event bus: every call's events to subscribers and sinks, in process.
- `redis_broker`: the bus shared by every instance through Redis (`--redis`).
- `subscriptions`: `/v1/calls`, `/v1/calls/{id}/events`, `/v1/events`.
- `webhooks`: every event POSTed, signed, to configured endpoints.
- `app`: routing, limits, TLS and graceful shutdown around `websockets`.

Only `app`, `metrics` and the adapters' callers import `websockets` and
`prometheus_client` (the `serve` extra), and only `redis_broker` imports `redis`
(the `redis` extra); importing this package imports none of them.
"""
