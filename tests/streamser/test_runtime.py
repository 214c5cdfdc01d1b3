"""The threaded runtime under stress: a slow worker, stops, stuck reads, failing sources."""

import copy
import threading
import time

import numpy as np
import pytest
from support.speech import conversation, to_int16

from streamser import Recognizer, RecognizerOptions
from streamser.errors import SourceError
from streamser.events import ErrorEvent, SummaryEvent, UtteranceEvent
from streamser.segmenter import SegmenterOptions
from streamser.sources import PushSource, Source

SMALL_RING = RecognizerOptions(
    segmenter=SegmenterOptions(max_utterance_ms=2000), ring_s=3.0, stats_interval_s=0
)
MANY = [1.0] * 16  # about 29 s of audio


def slowed(model, delay_s: float):
    """The same model with every inference delayed: a worker that cannot keep up."""
    slow = copy.copy(model)

    def infer(waveform, speaker=None):
        time.sleep(delay_s)
        return model.infer(waveform, speaker)

    slow.infer = infer
    return slow


def utterances(events) -> list[UtteranceEvent]:
    return [e for e in events if isinstance(e, UtteranceEvent)]


def run_pushed(recognizer, audio: np.ndarray, live: bool) -> list:
    source = PushSource(live=live, max_blocks=10_000)
    with recognizer.start(source) as run:
        for i in range(0, len(audio), 1600):
            source.push(audio[i : i + 1600])
        source.end()
        return list(run.events())


def test_a_slow_worker_on_a_live_source_drops_with_overrun_and_keeps_the_invariant(loaded_model):
    audio = to_int16(conversation(MANY))
    with Recognizer(slowed(loaded_model, 0.25), SMALL_RING) as recognizer:
        events = run_pushed(recognizer, audio, live=True)
    summary = events[-1]
    counts = summary.streams["ch0"]
    assert counts.segmented == len(MANY)
    assert counts.segmented == counts.ok + counts.uncertain + counts.dropped
    assert counts.dropped > 0
    found = utterances(events)
    assert [e.seq for e in found] == list(range(len(MANY)))  # one event each, in order
    for event in found:
        if event.status == "dropped":
            assert event.reason == "overrun" and event.label is None and event.scores == {}
    # The worker catches up: the last utterances still fit in the ring.
    assert found[-1].status != "dropped"


def test_the_same_slow_worker_on_a_file_source_never_drops(loaded_model):
    audio = to_int16(conversation(MANY))
    with Recognizer(slowed(loaded_model, 0.03), SMALL_RING) as recognizer:
        events = run_pushed(recognizer, audio, live=False)
    counts = events[-1].streams["ch0"]
    assert counts.segmented == len(MANY) and counts.dropped == 0
    assert counts.segmented == counts.ok + counts.uncertain


def test_stop_closes_the_open_utterance_and_summarises(loaded_model):
    speech = to_int16(conversation([1.0, 3.0], gap_s=0.8))[: int(16000 * 4.0)]  # cut mid-speech
    source = PushSource(live=True)
    with Recognizer(loaded_model) as recognizer, recognizer.start(source) as run:
        source.push(speech)
        time.sleep(0.3)
        run.stop()
        events = list(run.events())
    assert len(utterances(events)) == 2
    assert isinstance(events[-1], SummaryEvent) and events[-1].status == "stopped"


class StuckSource(Source):
    """Delivers audio, then blocks in a read that ignores stop() (an idle pipe)."""

    def __init__(self, audio: np.ndarray) -> None:
        super().__init__()
        self.audio = audio
        self.release = threading.Event()

    def blocks(self):
        yield [self.audio]
        self.release.wait(30)


def test_a_read_that_never_returns_does_not_hang_the_stop(loaded_model):
    speech = to_int16(conversation([1.0, 2.0]))[: int(16000 * 3.5)]
    source = StuckSource(speech)
    try:
        with Recognizer(loaded_model) as recognizer, recognizer.start(source) as run:
            time.sleep(0.3)
            began = time.monotonic()
            run.stop()
            events = list(run.events())
            assert time.monotonic() - began < 3.0
    finally:
        source.release.set()
    assert len(utterances(events)) == 2
    assert events[-1].status == "stopped"


class FailingSource(Source):
    """Delivers speech, then fails the way a broken input does."""

    def __init__(self, audio: np.ndarray) -> None:
        super().__init__()
        self.audio = audio

    def blocks(self):
        yield [self.audio]
        raise SourceError("test input: byte 1234: the stream broke")


def test_a_failing_source_ends_with_an_error_event_and_a_summary(loaded_model):
    speech = to_int16(conversation([1.0, 2.0]))[: int(16000 * 3.5)]
    with Recognizer(loaded_model) as recognizer, recognizer.start(FailingSource(speech)) as run:
        events = list(run.events())
    assert len(utterances(events)) == 2  # the open one was closed, not lost
    error, summary = events[-2:]
    assert isinstance(error, ErrorEvent) and "byte 1234" in error.message
    assert summary.status == "failed" and summary.error == error.message
    assert isinstance(run.error, SourceError)


def test_leaving_the_iteration_early_stops_the_capture_thread(loaded_model):
    source = PushSource(live=True)
    with Recognizer(loaded_model) as recognizer:
        events = recognizer.iter_events(source)
        source.push(to_int16(conversation([1.0, 1.0])))
        first = next(events)
        assert isinstance(first, UtteranceEvent)
        events.close()
    assert source.stopped


@pytest.mark.parametrize("seconds", [0.1, 0.0])
def test_tiny_inputs_give_only_a_summary(loaded_model, seconds):
    source = PushSource(live=False)
    with Recognizer(loaded_model) as recognizer, recognizer.start(source) as run:
        source.push(to_int16(conversation([], lead_s=seconds)))
        source.end()
        events = list(run.events())
    assert len(events) == 1 and events[0].totals.segmented == 0
