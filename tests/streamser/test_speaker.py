"""Per-stream speaker statistics: what a speaker-normalised model reads and grows."""

from __future__ import annotations

import numpy as np
import pytest

from streamser.speaker import SpeakerStatistics


def test_a_new_stream_has_empty_statistics_of_the_model_size():
    inputs = SpeakerStatistics().inputs(feature_dim=6)
    assert inputs["speaker_sum"].shape == (1, 6)
    assert inputs["speaker_sum_squares"].shape == (1, 6)
    assert inputs["speaker_count"].tolist() == [0.0]
    assert all(value.dtype == np.float32 for value in inputs.values())
    assert not inputs["speaker_sum"].any()


def test_statistics_are_sums_of_the_added_features():
    statistics = SpeakerStatistics()
    statistics.add(np.array([1.0, 2.0]))
    statistics.add(np.array([3.0, -2.0]))
    inputs = statistics.inputs(feature_dim=2)
    assert inputs["speaker_sum"].tolist() == [[4.0, 0.0]]
    assert inputs["speaker_sum_squares"].tolist() == [[10.0, 8.0]]
    assert inputs["speaker_count"].tolist() == [2.0]


def test_past_the_window_old_utterances_fade_and_the_mean_follows_a_new_speaker():
    statistics = SpeakerStatistics(window_utterances=10)
    for _ in range(50):
        statistics.add(np.array([0.0]))
    for _ in range(30):
        statistics.add(np.array([1.0]))
    inputs = statistics.inputs(feature_dim=1)
    count = inputs["speaker_count"][0]
    assert count == pytest.approx(11.0, abs=1.0)  # about the window, not 80
    assert inputs["speaker_sum"][0, 0] / count > 0.9  # the new speaker dominates


def test_reset_forgets_the_speaker():
    statistics = SpeakerStatistics()
    statistics.add(np.ones(3))
    statistics.reset()
    assert statistics.count == 0
    assert statistics.inputs(3)["speaker_count"].tolist() == [0.0]


def test_a_window_below_one_utterance_is_refused():
    with pytest.raises(ValueError, match="window_utterances"):
        SpeakerStatistics(window_utterances=0)
