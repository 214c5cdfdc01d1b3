"""OOD evaluation sets: seeded, labelled where the model's labels apply, at speech level."""

from dataclasses import replace

import numpy as np
import pytest

from streamser.labels import FOUR_CLASS
from training.ood.sets import (
    UNSEEN_EMOTIONS,
    OodSetOptions,
    build_set,
    non_speech_set,
    segment,
    synthetic_sounds,
    system_sounds,
)


def test_synthetic_sounds_are_seeded_and_at_speech_level():
    a, b = synthetic_sounds(12, seed=3), synthetic_sounds(12, seed=3)
    assert len(a) == 12
    assert all(x == y and np.array_equal(p, q) for (x, p), (y, q) in zip(a, b, strict=True))
    assert not np.array_equal(a[0][1], synthetic_sounds(12, seed=4)[0][1])
    kinds = [kind for kind, _ in a]
    assert kinds[:6] == kinds[6:] and len(set(kinds)) == 6  # each kind in turn
    assert "syllable-rate noise" in kinds
    for _, clip in a:
        assert clip.dtype == np.int16
        assert 16_000 <= len(clip) <= 48_000
        assert 3_000 < np.abs(clip).max() < 17_000  # -20..-6 dBFS peaks


def test_non_speech_holds_synthetic_sounds_music_and_desktop_sounds():
    clips = non_speech_set(12, music_count=4, seed=3)
    desktop = system_sounds()
    assert clips.shift == "semantic" and set(clips.emotions) == {None}
    assert len(clips.audio) == 12 + 4 + len(desktop)
    assert len(desktop) >= 20  # the theme's alerts, without its spoken channel names
    assert "4 fluidsynth pieces" in clips.description
    assert clips.kinds[12:] == ("music",) * 4 + ("desktop sound",) * len(desktop)
    again = non_speech_set(12, music_count=4, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(clips.audio, again.audio, strict=True))


def test_unknown_set_names_list_the_accepted_ones(tmp_path):
    with pytest.raises(ValueError, match="unseen-emotions, non-speech, unseen-engine"):
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
    engine = build_set("unseen-engine", tmp_path, options)
    assert engine.shift == "covariate" and "pico" in engine.description
    assert sorted(engine.emotions) == sorted(FOUR_CLASS * 3)  # 3 x per_class: fewer voices
    again = build_set("unseen-emotions", tmp_path, options)  # from the cache
    assert all(np.array_equal(x, y) for x, y in zip(again.audio, emotions.audio, strict=True))


def test_non_speech_reaches_the_model_as_the_segmenter_cuts_it(tmp_path):
    options = OodSetOptions(non_speech_count=12, music_count=2)
    clips = non_speech_set(12, music_count=2, seed=1)
    seen = build_set("non-speech", tmp_path, options)
    assert "VAD spans" in seen.description
    assert len(seen.audio) > 0 and set(seen.emotions) == {None}
    spans = [(kind, span) for kind, clip in zip(clips.kinds, clips.audio, strict=True)
             for span in segment(clip)]  # fmt: skip
    assert all(np.array_equal(a, b) for a, (_, b) in zip(seen.audio, spans, strict=True))
    assert seen.kinds == tuple(kind for kind, _ in spans)  # each span keeps its clip's kind
    assert segment(np.zeros(32_000, np.int16)) == []  # silence never reaches the gate
    unfiltered = build_set("non-speech", tmp_path, replace(options, through_vad=False))
    assert len(unfiltered.audio) == len(clips.audio)
