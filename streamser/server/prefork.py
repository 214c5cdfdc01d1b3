"""Pre-forked serving: several server processes share one port through SO_REUSEPORT.

Each process is a whole `Server` (its own event loop, model session and inference
threads); the kernel spreads new connections across them. This is the
alternative to one process with N inference threads that `docs/BENCHMARKS.md`
measures. What it costs: every process holds its own model and its own metrics
(a scrape of `/metrics` or `/healthz` reaches one process), and a Twilio
subscriber reaches the call only if the kernel hands it to the same process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable

log = logging.getLogger(__name__)


def serve_forked(processes: int, serve_one: Callable[[], int]) -> int:
    """Forks `processes` children that each run `serve_one()`; returns the worst exit code.

    Call before any thread or model exists (fork copies only the calling thread).
    SIGINT and SIGTERM reach the parent, which passes one SIGTERM to each child
    (children ignore SIGINT, so Ctrl-C on the process group counts once); each
    child then finishes its open calls as a single server does.
    """
    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:  # child
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            code = 1
            try:
                code = serve_one()
            except BaseException:
                log.exception("server process %d failed", os.getpid())
            finally:
                os._exit(code)
        children.append(pid)
    log.info("serving from %d processes: %s", processes, ", ".join(map(str, children)))
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    worst = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        worst = max(worst, os.waitstatus_to_exitcode(status))
    return worst
