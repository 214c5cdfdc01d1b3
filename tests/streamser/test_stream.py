"""The capture side of a stream: frame assembly, claims, and the job queue's bound."""

from support.speech import conversation, to_int16

from streamser.segmenter import SegmenterOptions, Span
from streamser.stream import Job, JobQueue, StreamFront, queue_bound
from streamser.vad import WebRtcVad

OPTIONS = SegmenterOptions()
RING = 16000 * 20


def front() -> StreamFront:
    return StreamFront(0, "ch0", WebRtcVad(2), OPTIONS, RING)


def test_jobs_do_not_depend_on_block_size():
    audio = to_int16(conversation([1.0, 1.5, 0.8]))
    results = []
    for block in (1, 333, 480, 4096, len(audio)):
        f = front()
        jobs = []
        for i in range(0, len(audio), block):
            jobs += f.process(audio[i : i + block], arrived=0.0)
        jobs += f.flush(0.0)
        results.append([(j.seq, j.span) for j in jobs])
        assert f.counters.samples == len(audio)
    assert all(r == results[0] for r in results) and len(results[0]) == 3


def test_each_job_claims_its_span_in_the_ring():
    f = front()
    jobs = f.process(to_int16(conversation([1.0])), 0.0) + f.flush(0.0)
    (job,) = jobs
    assert f.ring.read(job.span.start, job.span.end) is not None
    f.ring.release()  # exactly one claim was taken


def job(stream: int, seq: int) -> Job:
    return Job(stream, seq, Span(seq * 100, seq * 100 + 50, 5), arrived=0.0)


def test_queue_is_fifo_and_polls_with_a_timeout():
    queue = JobQueue(per_stream=4)
    assert queue.get(timeout=0.01) is None
    for seq in range(3):
        queue.put(job(0, seq))
    assert [queue.get(0.01).seq for _ in range(3)] == [0, 1, 2]


def test_past_the_bound_the_oldest_waiting_job_of_that_stream_is_dropped():
    queue = JobQueue(per_stream=2)
    queue.put(job(1, 0))
    for seq in range(4):
        queue.put(job(0, seq))
    items = [queue.get(0.01) for _ in range(5)]
    assert [(i.stream, i.seq, i.dropped) for i in items] == [
        (1, 0, None),
        (0, 0, "overrun"),
        (0, 1, "overrun"),
        (0, 2, None),
        (0, 3, None),
    ]


def test_the_bound_exceeds_the_shortest_spans_that_fit_in_the_ring():
    bound = queue_bound(OPTIONS, RING)
    assert bound * OPTIONS.min_span_samples > RING
