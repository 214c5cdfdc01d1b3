"""The worker side: a job's span -> model -> OOD gate -> one utterance event.

The worker holds the shared model and gate and no per-stream state beyond what
the job and its stream's front carry, so one worker serves every stream.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from streamser.audio.formats import int16_to_float
from streamser.constants import SAMPLE_RATE_HZ
from streamser.events import (
    DROPPED,
    OK,
    REASON_ERROR,
    REASON_OOD,
    REASON_OVERRUN,
    UNCERTAIN,
    UtteranceEvent,
)
from streamser.model import EmotionModel
from streamser.ood import OodGate, OodOptions, softmax
from streamser.stream import Job, StreamFront

log = logging.getLogger(__name__)

LOGGED_FAILURES = 10
"""Model failures logged in full; after that, one line every `FAILURE_LOG_EVERY`."""
FAILURE_LOG_EVERY = 1000


class Worker:
    """Turns jobs into events. Stateless beyond the model and gate, so one worker
    serves every stream and thread (a session's `run()` is thread-safe).

    Args:
        model: The shared model.
        gate: The OOD gate for the model's calibration.
    """

    def __init__(self, model: EmotionModel, gate: OodGate) -> None:
        self.model = model
        self.gate = gate
        self.failures = 0
        self._failures_lock = threading.Lock()

    @classmethod
    def for_model(cls, model: EmotionModel, ood: OodOptions) -> Worker:
        """The worker every entry point uses: the model's own calibration, with `ood`'s
        overrides, is the gate."""
        return cls(model, OodGate(model.metadata.ood, ood))

    def handle(self, job: Job, front: StreamFront) -> UtteranceEvent:
        """Exactly one event for the job; releases the job's claim on the ring."""
        try:
            samples = None if job.dropped else front.ring.read(job.span.start, job.span.end)
        finally:
            front.ring.release()
        if samples is None:
            front.counters.dropped += 1
            return self._event(job, front, status=DROPPED, reason=job.dropped or REASON_OVERRUN)
        try:
            audio = int16_to_float(samples)
            inference = self.model.infer(audio, front.speaker)
            probabilities = softmax(inference.logits)
            decision = self.gate.judge(inference, audio)
        except Exception as error:  # one utterance lost, never the stream
            self._log_failure(job, front, error)
            front.counters.dropped += 1
            return self._event(job, front, status=DROPPED, reason=REASON_ERROR)
        top = int(np.argmax(probabilities))
        if decision.accepted:
            front.counters.ok += 1
        else:
            front.counters.uncertain += 1
        return self._event(
            job,
            front,
            status=OK if decision.accepted else UNCERTAIN,
            reason=None if decision.accepted else REASON_OOD,
            label=self.model.labels[top] if decision.accepted else None,
            confidence=float(probabilities[top]),
            scores={
                label: float(p) for label, p in zip(self.model.labels, probabilities, strict=True)
            },
            ood=decision.report(),
        )

    def _log_failure(self, job: Job, front: StreamFront, error: Exception) -> None:
        with self._failures_lock:
            self.failures += 1
            count = self.failures
        if count <= LOGGED_FAILURES:
            log.error(
                "model failed on %s utterance %d; dropped it", front.name, job.seq, exc_info=error
            )
        elif count % FAILURE_LOG_EVERY == 0:
            log.error("model failed on %d utterances so far (latest: %s)", count, error)

    def _event(self, job: Job, front: StreamFront, **fields) -> UtteranceEvent:
        latency_ms = (time.monotonic() - job.arrived) * 1000.0
        return UtteranceEvent(
            stream=front.name,
            seq=job.seq,
            start=(job.span.start + job.skipped) / SAMPLE_RATE_HZ,
            end=(job.span.end + job.skipped) / SAMPLE_RATE_HZ,
            latency_ms=latency_ms,
            model=self.model.short_sha,
            **fields,
        )
