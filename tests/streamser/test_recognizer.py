"""The Python API: the synchronous stream recognizer and the threaded runs over sources."""

import io
import itertools
import json

import numpy as np
import pytest
from support.audio import wav_bytes
from support.speech import conversation, quiet, to_int16

from streamser import Recognizer, RecognizerOptions
from streamser.audio import AudioFormat, ChannelMode, Encoding
from streamser.audio.wav import wav_header_bytes
from streamser.events import StatsEvent, SummaryEvent, UtteranceEvent
from streamser.ood import OodOptions
from streamser.sinks import format_text
from streamser.sources import FileSource, PushSource

DURATIONS = [1.0, 2.0, 0.7, 1.5]


@pytest.fixture(scope="module")
def recognizer(loaded_model):
    with Recognizer(loaded_model) as r:
        yield r


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return to_int16(conversation(DURATIONS))


def comparable(events) -> list[dict]:
    """Events without what depends on timing or the input's name."""
    out = []
    for event in events:
        data = event.to_dict()
        for key in ("latency_ms", "elapsed_s", "realtime_factor", "source", "queue_depth"):
            data.pop(key, None)
        out.append(data)
    return out


def assert_invariant(summary: SummaryEvent) -> None:
    for counts in summary.streams.values():
        assert counts.segmented == counts.ok + counts.uncertain + counts.dropped


def test_stream_recognizer_finds_every_utterance_in_order(recognizer, speech):
    stream = recognizer.stream()
    events = stream.process(speech) + stream.flush()
    assert len(events) == len(DURATIONS)
    assert [e.seq for e in events] == list(range(len(DURATIONS)))
    assert all(a.end <= b.start for a, b in itertools.pairwise(events))
    for event in events:
        assert event.status in ("ok", "uncertain")
        assert sum(event.scores.values()) == pytest.approx(1.0, abs=1e-3)
        assert event.model == recognizer.model.short_sha
        assert event.latency_ms >= 0
    counts = stream.counts
    assert counts.segmented == counts.ok + counts.uncertain + counts.dropped == 4


def test_events_do_not_depend_on_how_the_input_is_chunked(recognizer, speech):
    results = []
    for block in (160, 480, 1000, 16000, len(speech)):
        stream = recognizer.stream()
        events = []
        for i in range(0, len(speech), block):
            events += stream.process(speech[i : i + block])
        events += stream.flush()
        results.append(comparable(events))
    assert all(r == results[0] for r in results)


def test_float_input_and_reset(recognizer, speech):
    stream = recognizer.stream()
    first = comparable(stream.process(speech) + stream.flush())
    stream.reset()
    assert stream.counts.segmented == 0
    again = comparable(stream.process(speech.astype(np.float32) / 32768.0) + stream.flush())
    assert again == first


def test_empty_input_gives_only_a_summary(recognizer):
    empty = wav_header_bytes(AudioFormat(16000, 1, Encoding.PCM_S16), data_bytes=0)
    events = list(recognizer.iter_events(io.BytesIO(empty)))
    assert len(events) == 1 and isinstance(events[0], SummaryEvent)
    assert events[0].totals.segmented == 0 and events[0].status == "completed"


def test_a_file_run_matches_the_stream_recognizer(recognizer, speech, tmp_path):
    path = tmp_path / "speech.wav"
    path.write_bytes(wav_bytes(speech.astype(np.float32) / 32768.0, 16000))
    events = list(recognizer.iter_events(path))
    utterances = [e for e in events if isinstance(e, UtteranceEvent)]
    stream = recognizer.stream()
    assert comparable(utterances) == comparable(stream.process(speech) + stream.flush())
    summary = events[-1]
    assert isinstance(summary, SummaryEvent) and summary.totals.dropped == 0
    assert_invariant(summary)


def test_stats_events_come_at_audio_intervals_and_hold_the_invariant(loaded_model, speech):
    options = RecognizerOptions(stats_interval_s=2.0)
    with Recognizer(loaded_model, options) as recognizer:
        events = list(recognizer.iter_events(io.BytesIO(wav_bytes(speech / 32768.0, 16000))))
    stats = [e for e in events if isinstance(e, StatsEvent)]
    assert [s.time for s in stats] == [2.0, 4.0, 6.0, 8.0]
    assert [s.seq for s in stats] == [0, 1, 2, 3]
    for s in stats:
        for counts in s.streams.values():
            assert counts.segmented == counts.ok + counts.uncertain + counts.dropped
    ends = [e.end for e in events if isinstance(e, UtteranceEvent)]
    assert ends == sorted(ends)


def test_split_channels_become_separate_streams(recognizer):
    left = conversation([1.0, 1.0], seed=1)
    right = conversation([2.5], lead_s=1.0, seed=2)
    n = max(len(left), len(right))
    stereo = np.stack([np.pad(left, (0, n - len(left))), np.pad(right, (0, n - len(right)))], 1)
    data = wav_bytes(stereo, 8000 * 2, Encoding.PCM_S16)  # 16 kHz stereo
    source = FileSource(io.BytesIO(data), channel_mode=ChannelMode("split"))
    events = list(recognizer.iter_events(source))
    summary = events[-1]
    assert summary.streams["ch0"].segmented == 2
    assert summary.streams["ch1"].segmented == 1
    per_stream = [e.stream for e in events if isinstance(e, UtteranceEvent)]
    assert sorted(per_stream) == ["ch0", "ch0", "ch1"]
    assert_invariant(summary)


def test_mulaw_8khz_stereo_is_converted(recognizer):
    audio = conversation(DURATIONS, rate=8000)
    stereo = np.stack([audio, audio], axis=1)
    source = FileSource(io.BytesIO(wav_bytes(stereo, 8000, Encoding.MULAW)))
    summary = list(recognizer.iter_events(source))[-1]
    assert summary.streams["mix"].segmented == len(DURATIONS)
    assert summary.streams["mix"].audio_s == pytest.approx(len(audio) / 8000, abs=0.01)


def test_pushed_pcm_from_another_thread(recognizer, speech):
    source = PushSource(AudioFormat(16000, 1, Encoding.PCM_S16), live=False)
    run = recognizer.start(source)
    with run:
        data = speech.astype("<i2").tobytes()
        for i in range(0, len(data), 3001):  # odd sizes: partial samples carry over
            source.push(data[i : i + 3001])
        source.end()
        events = list(run.events())
    assert sum(isinstance(e, UtteranceEvent) for e in events) == len(DURATIONS)
    assert run.summary.status == "completed" and run.error is None


def test_callback_api_returns_the_summary(recognizer, speech, tmp_path):
    path = tmp_path / "speech.wav"
    path.write_bytes(wav_bytes(speech / 32768.0, 16000))
    lines = []
    summary = recognizer.run(path, lambda event: lines.append(event.to_json()))
    assert json.loads(lines[-1])["type"] == "summary"
    assert summary.totals.segmented == len(DURATIONS)


def test_options_are_echoed_in_the_summary(recognizer, speech):
    summary = list(recognizer.iter_events(io.BytesIO(wav_bytes(speech / 32768.0, 16000))))[-1]
    options = summary.to_dict()["options"]
    assert options["segmenter"]["hangover_ms"] == 300
    assert options["segmenter"]["vad"]["kind"] == "webrtc"
    assert options["ood"] == {
        "method": "energy",
        "threshold": 0.0,
        "tpr": 0.95,
        "min_voiced_share": 0.2,
    }


def test_noise_at_the_syllable_rate_is_uncertain_as_not_voiced(loaded_model):
    """The test model's score accepts anything; the voicing test turns the noise away,
    says so in the event and in its text line, and can be turned off."""
    rng = np.random.default_rng(0)
    t = np.arange(2 * 16000) / 16000
    noise = 0.2 * rng.standard_normal(len(t)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2
    audio = to_int16(np.concatenate([quiet(0.5, rng), noise, quiet(0.8, rng)]))

    def heard(minimum: float) -> list[UtteranceEvent]:
        options = RecognizerOptions(ood=OodOptions(min_voiced_share=minimum))
        with Recognizer(loaded_model, options) as recognizer:
            stream = recognizer.stream()
            return stream.process(audio) + stream.flush()

    rejected = heard(0.2)
    assert rejected and all(e.status == "uncertain" and e.reason == "ood" for e in rejected)
    assert all(e.ood.not_voiced and e.ood.score >= e.ood.threshold for e in rejected)
    assert "uncertain (not voiced: " in format_text(rejected[0])
    assert {e.status for e in heard(0.0)} == {"ok"}


def test_every_utterance_says_how_voiced_it_was(recognizer, speech):
    stream = recognizer.stream()
    for event in stream.process(speech) + stream.flush():
        assert event.ood.min_voiced_share == 0.2
        assert event.ood.voiced_share > 0.9  # a harmonic source, as voices are


def test_ring_must_hold_the_longest_utterance():
    from streamser.segmenter import SegmenterOptions

    with pytest.raises(ValueError, match="ring_s 5 is too small"):
        RecognizerOptions(segmenter=SegmenterOptions(max_utterance_ms=8000), ring_s=5)


def test_a_speaker_normalised_stream_learns_its_voice_until_reset_speaker(
    speaker_normalised_model, speech
):
    with Recognizer(speaker_normalised_model) as recognizer:
        stream = recognizer.stream()
        first = utterances_of(stream.process(speech) + stream.flush())
        assert stream.speaker_utterances == len(first) == len(DURATIONS)
        stream.reset_speaker()
        assert stream.speaker_utterances == 0
        assert stream.counts.segmented == len(DURATIONS)  # the rest of the stream is kept

        # The same utterance scores differently once the stream knows the voice.
        fresh = recognizer.stream()
        warm = recognizer.stream()
        warm.process(speech)
        warm.flush()
        utterance = to_int16(conversation(DURATIONS[:1]))
        cold_scores = utterances_of(fresh.process(utterance) + fresh.flush())[0].scores
        warm_scores = utterances_of(warm.process(utterance) + warm.flush())[0].scores
        assert cold_scores != pytest.approx(warm_scores, abs=1e-4)


def test_a_model_without_speaker_normalisation_ignores_the_statistics(recognizer, speech):
    stream = recognizer.stream()
    stream.process(speech)
    stream.flush()
    assert stream.speaker_utterances == 0


def utterances_of(events) -> list[UtteranceEvent]:
    return [e for e in events if isinstance(e, UtteranceEvent)]
