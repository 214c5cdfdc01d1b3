"""The inference pool: N threads sharing the one model session.

ONNX Runtime releases the GIL inside `run()` and a session's `run()` is
thread-safe, so threads over one session use the cores without a copy of the
model per worker. Utterances run one at a time per `run()`: batching similar
lengths through one `run()` measured slower per utterance on this model
(docs/BENCHMARKS.md, "Batching"), so the pool does not batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from streamser.events import UtteranceEvent
from streamser.stream import Job, StreamFront
from streamser.worker import Worker

log = logging.getLogger(__name__)

Observer = Callable[[UtteranceEvent, float], None]
"""Called in the pool thread with each event and its inference seconds (0 when dropped)."""


class InferencePool:
    """Turns jobs from any call into events on a few threads.

    Args:
        worker: The shared model and gate.
        threads: Pool threads; each runs one utterance at a time.
        observe: Optional callback for metrics.
    """

    def __init__(self, worker: Worker, threads: int = 1, observe: Observer | None = None) -> None:
        self.model = worker.model
        self.worker = worker
        self.threads = threads
        self._observe = observe
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="streamser-infer")

    def submit(self, job: Job, front: StreamFront) -> Future[UtteranceEvent]:
        """Queues the job; the future holds its one event. Cancelling the future before
        it runs leaves the job's ring claim in place: hand it to `handle_now` as dropped."""
        return self._executor.submit(self._handle, job, front)

    def handle_now(self, job: Job, front: StreamFront) -> UtteranceEvent:
        """Runs a job in the caller's thread (used for dropped jobs, which cost nothing)."""
        return self._handle(job, front)

    def close(self) -> None:
        """Waits for queued jobs, then ends the threads."""
        self._executor.shutdown(wait=True)

    def _handle(self, job: Job, front: StreamFront) -> UtteranceEvent:
        started = time.perf_counter()
        event = self.worker.handle(job, front)
        if self._observe is not None:
            seconds = 0.0 if event.status == "dropped" else time.perf_counter() - started
            self._observe(event, seconds)
        return event
