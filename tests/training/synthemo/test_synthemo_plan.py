"""The plan: balanced, seeded, keyed by identity; options reject what cannot be made."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from streamser import labels
from training.synthemo.conditions import Condition
from training.synthemo.errors import SynthOptionsError
from training.synthemo.plan import SynthOptions, make_plan
from training.synthemo.prosody import EMOTIONS, RULES, JitterOptions, sample_prosody
from training.synthemo.texts import SENTENCES


def files(jobs):
    return [row for job in jobs for row in job.manifest_rows()]


def test_texts_cover_the_languages_with_enough_unique_sentences():
    assert len(SENTENCES["en"]) >= 60
    assert len(SENTENCES["de"]) >= 15 and len(SENTENCES["es"]) >= 15
    for sentences in SENTENCES.values():
        assert len({s.text for s in sentences}) == len(sentences)
        assert len({s.text_id for s in sentences}) == len(sentences)


def test_rules_cover_the_eight_emotions_with_the_literature_directions():
    assert set(EMOTIONS) == set(labels.EMOTIONS) - {labels.CALM}
    neutral = RULES[labels.NEUTRAL]
    for emotion in (labels.ANGRY, labels.HAPPY, labels.FEAR, labels.SURPRISE):
        assert RULES[emotion].f0_ratio > neutral.f0_ratio
    for emotion in (labels.SAD, labels.BOREDOM, labels.DISGUST):
        assert RULES[emotion].f0_ratio < neutral.f0_ratio
        assert RULES[emotion].rate_ratio < neutral.rate_ratio
    assert RULES[labels.ANGRY].gain_db > 0 > RULES[labels.SAD].gain_db


def test_jitter_spreads_but_keeps_the_class_centre():
    rng = np.random.default_rng(0)
    draws = [sample_prosody(labels.ANGRY, rng) for _ in range(400)]
    ratios = np.array([d.f0_ratio for d in draws])
    assert ratios.std() > 0.03
    assert np.median(ratios) == pytest.approx(RULES[labels.ANGRY].f0_ratio, rel=0.03)
    still = sample_prosody(labels.ANGRY, rng, JitterOptions(0, 0, 0, 0, 0))
    assert still == RULES[labels.ANGRY]


def test_per_class_plan_is_balanced_over_classes_speakers_and_conditions():
    options = SynthOptions(
        engines=("espeak-ng", "flite"),
        languages=("en", "de"),
        per_class=8,
        conditions=(Condition(), Condition.parse("noise:10")),
    )
    rows = files(make_plan(options))
    cells = Counter((r["corpus"], r["language"], r["emotion"], r["condition"]) for r in rows)
    # espeak-ng speaks en and de, flite only en: three streams.
    assert len(cells) == 3 * len(EMOTIONS) * 2
    assert set(cells.values()) == {8}
    flite = Counter(r["speaker"] for r in rows if r["corpus"] == "synthemo-flite")
    assert len(flite) == 4 and len(set(flite.values())) == 1
    assert len({r["path"] for r in rows}) == len(rows)
    assert {r["gender"] for r in rows} == {labels.MALE, labels.FEMALE}


def test_every_item_is_spoken_in_every_emotion_by_the_same_speaker():
    rows = files(make_plan(SynthOptions(engines=("flite",), per_class=5)))
    items = Counter((r["speaker"], r["text_id"]) for r in rows if r["emotion"] == labels.NEUTRAL)
    for emotion in EMOTIONS:
        assert (
            Counter((r["speaker"], r["text_id"]) for r in rows if r["emotion"] == emotion) == items
        )


def test_count_is_exact_and_a_smaller_count_is_a_prefix():
    small = make_plan(SynthOptions(count=37, seed=3))
    large = make_plan(SynthOptions(count=200, seed=3))
    assert len(files(small)) == 37 and len(files(large)) == 200
    assert files(small) == files(large)[:37]
    assert [j.prosody for j in small] == [j.prosody for j in large[: len(small)]]


def test_same_seed_same_plan_other_seed_other_plan():
    a, b = make_plan(SynthOptions(per_class=3)), make_plan(SynthOptions(per_class=3))
    assert a == b
    c = make_plan(SynthOptions(per_class=3, seed=1))
    assert [j.prosody for j in a] != [j.prosody for j in c]


def test_prosody_does_not_depend_on_which_other_emotions_are_asked():
    everything = make_plan(SynthOptions(engines=("flite",), per_class=2))
    two = make_plan(SynthOptions(engines=("flite",), per_class=2, emotions=("sad", "angry")))
    full = {(j.item, j.emotion): j.prosody for j in everything}
    assert all(full[(j.item, j.emotion)] == j.prosody for j in two)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"engines": ("espeak",)}, "unknown engine 'espeak'"),
        ({"emotions": ("joy",)}, "unknown emotion 'joy'"),
        ({"languages": ("fr",)}, "unknown language 'fr'"),
        ({"engines": ("flite",), "languages": ("de",)}, "no selected engine speaks de"),
        ({"per_class": 2, "count": 5}, "not both"),
        ({"count": 0}, "at least 1"),
        ({"emotions": ("sad", "sad")}, "listed twice"),
        ({"conditions": ()}, "no conditions"),
    ],
)
def test_bad_options_name_the_problem(fields, message):
    with pytest.raises(SynthOptionsError, match=message):
        SynthOptions(**fields)


def test_condition_names_round_trip():
    for text in ("clean", "reverb", "telephone", "noise:10", "noise:-5:white", "noise:2.5"):
        assert Condition.parse(text).name == text
    assert Condition.parse("noise:10").colour == "pink"
    assert Condition.parse("noise:0:white").slug == "noise0white"
    with pytest.raises(SynthOptionsError, match="accepted: clean"):
        Condition.parse("underwater")
