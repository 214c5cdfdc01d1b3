"""The inference pool: jobs from any call become events on a few threads sharing one
model session."""

from __future__ import annotations

import time
from dataclasses import replace

from support.speech import conversation, to_int16

from streamser.events import InputInfo, UtteranceEvent
from streamser.ood import OodOptions
from streamser.server.pool import InferencePool
from streamser.streams import RecognizerOptions, StreamSet
from streamser.worker import Worker


def fronts_with_jobs(worker, count: int):
    """`count` streams, each with two segmented utterances waiting."""
    streams = StreamSet("pool", [f"s{i}" for i in range(count)], worker, RecognizerOptions(),
                        InputInfo("push", live=False))  # fmt: skip
    audio = to_int16(conversation([0.8, 1.0]))
    jobs = []
    for front in streams.fronts:
        jobs += [(job, front) for job in front.process(audio, time.monotonic())]
        jobs += [(job, front) for job in front.flush(time.monotonic())]
    return jobs


def test_every_job_gets_its_event_and_the_observer_sees_each_once(loaded_model):
    seen = []
    worker = Worker.for_model(loaded_model, OodOptions())
    pool = InferencePool(worker, threads=2, observe=lambda event, s: seen.append((event, s)))
    jobs = fronts_with_jobs(worker, 3)
    futures = [pool.submit(job, front) for job, front in jobs]
    events = [future.result(timeout=60) for future in futures]
    pool.close()
    assert len(jobs) == 6
    assert [(e.stream, e.seq) for e in events] == [(f.name, j.seq) for j, f in jobs]
    assert all(isinstance(e, UtteranceEvent) and e.status != "dropped" for e in events)
    assert sorted(id(e) for e, _ in seen) == sorted(id(e) for e in events)
    assert all(seconds > 0 for _, seconds in seen)


def test_threads_share_one_session_and_agree_with_one_thread(loaded_model):
    worker = Worker.for_model(loaded_model, OodOptions())
    results = {}
    for threads in (1, 2):
        pool = InferencePool(worker, threads=threads)
        jobs = fronts_with_jobs(worker, 2)
        results[threads] = [pool.submit(j, f).result(timeout=60).scores for j, f in jobs]
        pool.close()
        assert pool.model is loaded_model
    assert results[1] == results[2]


def test_a_dropped_job_costs_no_inference(loaded_model):
    seen = []
    worker = Worker.for_model(loaded_model, OodOptions())
    pool = InferencePool(worker, observe=lambda event, seconds: seen.append(seconds))
    job, front = fronts_with_jobs(worker, 1)[0]
    event = pool.handle_now(replace(job, dropped="overrun"), front)
    pool.close()
    assert (event.status, event.reason) == ("dropped", "overrun")
    assert seen == [0.0] and front.counters.dropped == 1
