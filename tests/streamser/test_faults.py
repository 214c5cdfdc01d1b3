"""Faults while running: nothing that was segmented is lost, and the run goes on."""

from __future__ import annotations

import copy
import io
import logging
import shutil

from support.audio import wav_bytes
from support.speech import conversation

from streamser import Recognizer
from streamser.events import SummaryEvent, UtteranceEvent
from streamser.model import EmotionModel

DURATIONS = [0.8, 1.0, 1.2]


def failing_on(model, utterance_index: int):
    """A stand-in for a fault that cannot be produced on demand: the model raises on
    one utterance (an ONNX Runtime error, a bad input shape) and works on the others."""
    broken = copy.copy(model)
    calls = {"n": 0}

    def infer(waveform, speaker=None):
        calls["n"] += 1
        if calls["n"] == utterance_index + 1:
            raise RuntimeError("simulated inference failure")
        return model.infer(waveform, speaker)

    broken.infer = infer
    return broken


def events_of(recognizer) -> list:
    audio = io.BytesIO(wav_bytes(conversation(DURATIONS), 16000))
    return list(recognizer.iter_events(audio))


def test_a_model_failure_drops_that_utterance_and_the_stream_goes_on(loaded_model, caplog):
    with caplog.at_level(logging.ERROR, logger="streamser.worker"):
        events = events_of(Recognizer(failing_on(loaded_model, 1)))
    utterances = [e for e in events if isinstance(e, UtteranceEvent)]
    summary = events[-1]
    assert [e.seq for e in utterances] == [0, 1, 2]
    assert [(e.status, e.reason) for e in utterances][1] == ("dropped", "error")
    assert utterances[0].status != "dropped" and utterances[2].status != "dropped"
    assert isinstance(summary, SummaryEvent) and summary.status == "completed"
    totals = summary.totals
    assert totals.segmented == 3 == totals.ok + totals.uncertain + totals.dropped
    assert "model failed on ch0 utterance 1" in caplog.text


def test_the_model_file_is_read_once_so_replacing_it_while_running_changes_nothing(
    untrained_model, speaker_normalised_model, tmp_path
):
    path = tmp_path / "model.onnx"
    shutil.copy(untrained_model, path)
    recognizer = Recognizer(EmotionModel.load(path))
    before = events_of(recognizer)
    path.write_bytes(path.read_bytes()[:1000])  # truncated under the running recognizer
    after = events_of(recognizer)
    shutil.copy(speaker_normalised_model, path)  # then replaced by another model
    again = events_of(recognizer)

    def labels(events):
        return [(e.status, e.label) for e in events if isinstance(e, UtteranceEvent)]

    assert labels(before) == labels(after) == labels(again)
    assert before[-1].model == after[-1].model == again[-1].model
