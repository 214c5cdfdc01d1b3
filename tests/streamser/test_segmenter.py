"""The segmenter's state machine, driven by a scripted detector, then by webrtcvad itself."""

import itertools

import numpy as np
import pytest
from support.speech import conversation, to_int16

from streamser.constants import FRAME_SAMPLES
from streamser.segmenter import Segmenter, SegmenterOptions, Span
from streamser.vad import WebRtcVad

FRAME = np.zeros(FRAME_SAMPLES, dtype=np.int16)


class ScriptedVad:
    """Answers from a string: '1' speech, '0' not."""

    def __init__(self, script: str) -> None:
        self.script = script
        self.position = 0
        self.resets = 0

    def is_speech(self, frame) -> bool:
        answer = self.script[self.position] == "1"
        self.position += 1
        return answer

    def reset(self) -> None:
        self.resets += 1
        self.position = 0


def segment(script: str, **options) -> tuple[list[Span], Segmenter]:
    segmenter = Segmenter(ScriptedVad(script), SegmenterOptions(**options))
    spans = []
    for _ in script:
        spans += segmenter.process(FRAME)
    spans += segmenter.flush()
    return spans, segmenter


def frames(span: Span) -> tuple[int, int]:
    return span.start // FRAME_SAMPLES, span.end // FRAME_SAMPLES


def test_a_burst_becomes_one_span_with_pre_roll_and_hangover():
    # 20 frames of silence, 20 of speech, 20 of silence. Start: 5 of the last 8
    # frames are speech (frame 24); pre-roll reaches 10 frames before the first
    # speech frame (20). Stop: 9 of the last 10 frames are silent (frame 48).
    spans, _ = segment("0" * 20 + "1" * 20 + "0" * 20)
    assert [frames(s) for s in spans] == [(10, 49)]
    assert spans[0].speech_frames == 20 and not spans[0].cut


def test_pre_roll_never_reaches_into_the_previous_span():
    spans, _ = segment("0" * 5 + "1" * 15 + "0" * 10 + "1" * 15 + "0" * 12)
    assert len(spans) == 2
    assert spans[1].start >= spans[0].end
    assert spans[0].start == 0  # clamped at the stream start


def test_too_little_speech_is_counted_not_segmented():
    spans, segmenter = segment("0" * 10 + "1" * 6 + "0" * 20 + "1" * 20 + "0" * 12)
    assert len(spans) == 1 and segmenter.too_short == 1


def test_long_speech_is_cut_into_consecutive_spans():
    spans, _ = segment("1" * 100 + "0" * 12, max_utterance_ms=900)  # 30 frames
    pieces = [frames(s) for s in spans]
    assert pieces[:3] == [(0, 30), (30, 60), (60, 90)]
    assert all(s.cut for s in spans[:3])
    assert all(a.end == b.start for a, b in itertools.pairwise(spans))
    assert spans[-1].end // FRAME_SAMPLES <= 112


def test_flush_closes_the_open_utterance_and_only_it():
    spans, segmenter = segment("0" * 10 + "1" * 30)
    assert [frames(s) for s in spans] == [(0, 40)]
    assert segmenter.flush() == []


def test_nothing_from_silence_or_isolated_clicks():
    spans, segmenter = segment("0" * 100 + "10000000" * 10)
    assert spans == [] and segmenter.too_short == 0


def test_reset_starts_over_and_resets_the_detector():
    vad = ScriptedVad("1" * 40)
    segmenter = Segmenter(vad, SegmenterOptions())
    for _ in range(20):
        segmenter.process(FRAME)
    segmenter.reset()
    assert (segmenter.frames, segmenter.triggered, vad.resets) == (0, False, 2)


def test_options_validate():
    with pytest.raises(ValueError, match="start_ratio"):
        SegmenterOptions(start_ratio=0)
    with pytest.raises(ValueError, match="hangover_ms"):
        SegmenterOptions(hangover_ms=10)
    with pytest.raises(ValueError, match="min_speech_ms is longer"):
        SegmenterOptions(min_speech_ms=5000, max_utterance_ms=3000)


def test_webrtcvad_finds_each_synthetic_utterance():
    audio = to_int16(conversation([1.0, 2.0, 0.6, 3.0]))
    segmenter = Segmenter(WebRtcVad(2))
    spans = []
    for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        spans += segmenter.process(audio[i : i + FRAME_SAMPLES])
    spans += segmenter.flush()
    assert len(spans) == 4
    starts = [s.start / 16000 for s in spans]
    # Utterances begin at 0.5, 2.3, 5.1 and 6.5 s; spans begin up to the pre-roll earlier.
    for start, onset in zip(starts, [0.5, 2.3, 5.1, 6.5], strict=True):
        assert onset - 0.4 <= start <= onset + 0.1


def test_a_block_of_frames_segments_as_its_frames_do_one_by_one():
    script = "0" * 20 + "1" * 20 + "0" * 3 + "1" * 30 + "0" * 20 + "1" * 300 + "0" * 15
    one_by_one, _ = segment(script, max_utterance_ms=3000)
    segmenter = Segmenter(ScriptedVad(script), SegmenterOptions(max_utterance_ms=3000))
    blocks = []
    for size in itertools.cycle((1, 7, 64)):
        done = segmenter.frames
        if done >= len(script):
            break
        count = min(size, len(script) - done)
        blocks += segmenter.process_frames(np.zeros(count * FRAME_SAMPLES, dtype=np.int16))
    blocks += segmenter.flush()
    assert blocks == one_by_one and len(blocks) >= 3


def test_webrtcvad_decides_a_block_as_it_decides_each_frame():
    audio = to_int16(conversation([1.0, 2.0]))
    audio = audio[: len(audio) - len(audio) % FRAME_SAMPLES]
    frames = audio.reshape(-1, FRAME_SAMPLES)
    each, block = WebRtcVad(2), WebRtcVad(2)
    assert block.speech_frames(audio) == [bool(each.is_speech(f)) for f in frames]
    assert any(block.speech_frames(audio)) and not all(block.speech_frames(audio))
