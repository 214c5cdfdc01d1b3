"""`streamser serve`: many live calls over WebSockets, one shared model.

Layout, one job per module:

- `options`: the server's frozen options and limits.
- `pool`: the inference pool, threads around the one shared model session.
- `session`: the session core, per call: channels, segmenters, ordered events.
- `native`, `twilio`, `audiohook`: one thin adapter per wire protocol.
- `auth`: bearer tokens and AudioHook API keys and signatures.
- `metrics`: Prometheus metrics and the health document.
- `app`: routing, limits, TLS and graceful shutdown around `websockets`.

Only `app`, `metrics` and the adapters' callers import `websockets` and
`prometheus_client` (the `serve` extra); importing this package imports neither.
"""
