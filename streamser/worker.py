"""The worker side: a job's span -> model -> OOD gate -> one utterance event.

The worker holds the shared model and gate and no per-stream state beyond what
the job and its stream's front carry, so one worker serves every stream.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np

from streamser.audio.formats import int16_to_float
from streamser.constants import SAMPLE_RATE_HZ
from streamser.events import (
    DROPPED,
    OK,
    REASON_OOD,
    REASON_OVERRUN,
    UNCERTAIN,
    LatencyStats,
    OodReport,
    UtteranceEvent,
)
from streamser.model import EmotionModel
from streamser.ood import OodGate, softmax
from streamser.stream import Job, StreamFront

LATENCY_WINDOW = 10_000
"""Latency percentiles cover the most recent this-many utterances: memory stays flat."""


class Worker:
    """Turns jobs into events; also keeps the latency record of a run.

    Args:
        model: The shared model.
        gate: The OOD gate for the model's calibration.
    """

    def __init__(self, model: EmotionModel, gate: OodGate) -> None:
        self.model = model
        self.gate = gate
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def handle(self, job: Job, front: StreamFront) -> UtteranceEvent:
        """Exactly one event for the job; releases the job's claim on the ring."""
        try:
            samples = None if job.dropped else front.ring.read(job.span.start, job.span.end)
        finally:
            front.ring.release()
        if samples is None:
            front.counters.dropped += 1
            return self._event(job, front, status=DROPPED, reason=job.dropped or REASON_OVERRUN)
        inference = self.model.infer(int16_to_float(samples), front.speaker)
        probabilities = softmax(inference.logits)
        decision = self.gate.judge(inference)
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
            ood=OodReport(decision.method, decision.score, decision.threshold),
        )

    def latency(self) -> LatencyStats:
        if not self._latencies:
            return LatencyStats(count=0, p50=None, p95=None, max=None)
        values = np.fromiter(self._latencies, dtype=np.float64)
        p50, p95 = np.percentile(values, [50, 95])
        return LatencyStats(
            count=len(values), p50=float(p50), p95=float(p95), max=float(values.max())
        )

    def _event(self, job: Job, front: StreamFront, **fields) -> UtteranceEvent:
        latency_ms = (time.monotonic() - job.arrived) * 1000.0
        self._latencies.append(latency_ms)
        return UtteranceEvent(
            stream=front.name,
            seq=job.seq,
            start=job.span.start / SAMPLE_RATE_HZ,
            end=job.span.end / SAMPLE_RATE_HZ,
            latency_ms=latency_ms,
            model=self.model.short_sha,
            **fields,
        )
