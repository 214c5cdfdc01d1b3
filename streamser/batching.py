"""Concurrent inferences from several streams, coalesced into one session run.

On a GPU one run of eight utterances costs about what one costs, so when several
pool threads (`serve --workers N`) each hold an utterance, running them together
multiplies throughput; on a CPU a batch costs the sum of its parts (measured:
docs/BENCHMARKS.md), so batching is off there by default.

No timer, no waiting for company: a thread that finds the session idle becomes the
leader and runs whatever is queued, up to `max_batch` at a time, until the queue is
empty; threads that arrive meanwhile queue their item and wait for their result. A
lone stream is therefore never delayed, and under load the batch grows by itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

DEFAULT_MAX_BATCH = 16


@dataclass
class _Slot(Generic[Item, Result]):
    item: Item
    done: threading.Event = field(default_factory=threading.Event)
    result: Result | None = None
    error: BaseException | None = None


class Batcher(Generic[Item, Result]):
    """Runs `run_batch` over items submitted from any number of threads.

    Args:
        run_batch: Items -> one result per item, in order. An exception fails every
            item of that batch (each caller sees it raised).
        max_batch: Most items per call.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[Item]], Sequence[Result]],
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._run_batch = run_batch
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Slot[Item, Result]] = []
        self._leading = False
        self.batches = 0
        self.items = 0

    def submit(self, item: Item) -> Result:
        """This item's result, computed alone or beside other threads' items."""
        slot: _Slot[Item, Result] = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            lead = not self._leading
            self._leading = True
        if lead:
            self._lead()
        else:
            slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _lead(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                if not batch:
                    self._leading = False
                    return
                self.batches += 1
                self.items += len(batch)
            try:
                results = self._run_batch([slot.item for slot in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"{len(results)} results for a batch of {len(batch)}")
                for slot, result in zip(batch, results, strict=True):
                    slot.result = result
            except BaseException as error:  # handed to every caller of the batch
                for slot in batch:
                    slot.error = error
            for slot in batch:
                slot.done.set()
