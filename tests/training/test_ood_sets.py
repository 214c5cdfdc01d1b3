"""OOD evaluation sets: seeded, labelled where the model's labels apply, at speech level."""

import numpy as np
import pytest

from streamser.labels import FOUR_CLASS
from training.ood_sets import (
    UNSEEN_EMOTIONS,
    OodSetOptions,
    build_set,
    non_speech_set,
    segment,
)


def test_non_speech_is_seeded_sized_and_unlabelled():
    a, b = non_speech_set(12, seed=3), non_speech_set(12, seed=3)
    assert a.shift == "semantic" and len(a.audio) == 12
    assert all(np.array_equal(x, y) for x, y in zip(a.audio, b.audio, strict=True))
    assert not np.array_equal(a.audio[0], non_speech_set(12, seed=4).audio[0])
    assert set(a.emotions) == {None}
    for clip in a.audio:
        assert clip.dtype == np.int16
        assert 16_000 <= len(clip) <= 48_000
        assert 3_000 < np.abs(clip).max() < 17_000  # -20..-6 dBFS peaks


def test_unknown_set_names_list_the_accepted_ones(tmp_path):
    with pytest.raises(ValueError, match="unseen-emotions, unseen-language, non-speech"):
        build_set("music", tmp_path)


@pytest.mark.tts
def test_speech_sets_are_rendered_once_and_labelled_only_where_labels_apply(tmp_path):
    options = OodSetOptions(per_class=1, engines=("espeak-ng",))
    emotions = build_set("unseen-emotions", tmp_path, options)
    assert emotions.shift == "semantic" and len(emotions.audio) == len(UNSEEN_EMOTIONS)
    assert set(emotions.emotions) == {None}
    language = build_set("unseen-language", tmp_path, options)
    assert language.shift == "covariate"
    assert sorted(language.emotions) == sorted(FOUR_CLASS * 2)  # de and es
    phone = build_set("telephone", tmp_path, options)
    assert phone.shift == "covariate" and set(phone.emotions) == set(FOUR_CLASS)
    again = build_set("unseen-emotions", tmp_path, options)  # from the cache
    assert all(np.array_equal(x, y) for x, y in zip(again.audio, emotions.audio, strict=True))


def test_non_speech_reaches_the_model_as_the_segmenter_cuts_it(tmp_path):
    clips = non_speech_set(12, seed=1)
    seen = build_set("non-speech", tmp_path, OodSetOptions(non_speech_count=12))
    assert "VAD spans" in seen.description
    assert len(seen.audio) > 0 and set(seen.emotions) == {None}
    spans = [span for clip in clips.audio for span in segment(clip)]
    assert all(np.array_equal(a, b) for a, b in zip(seen.audio, spans, strict=True))
    assert segment(np.zeros(32_000, np.int16)) == []  # silence never reaches the gate
    unfiltered = build_set(
        "non-speech", tmp_path, OodSetOptions(non_speech_count=12, through_vad=False)
    )
    assert len(unfiltered.audio) == 12
