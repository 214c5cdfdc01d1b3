from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamser.labels import ANGRY, FEMALE, FOUR_CLASS, HAPPY, MALE, NEUTRAL, SAD, SURPRISE
from training.corpora import (
    CorpusError,
    Utterance,
    leave_one_session_out,
    leave_one_speaker_out,
    speaker_split,
    take,
)


def make(rows: list[tuple[int, str, int]]) -> list[Utterance]:
    """Utterances from (speaker number, emotion, session number) rows."""
    return [
        Utterance(
            path=Path(f"{i}.wav"),
            emotion=emotion,
            speaker=f"t:{speaker:02d}",
            gender=MALE if speaker % 2 else FEMALE,
            corpus="t",
            session=f"Session{session}",
        )
        for i, (speaker, emotion, session) in enumerate(rows)
    ]


rows = st.lists(
    st.tuples(st.integers(0, 12), st.sampled_from(FOUR_CLASS), st.integers(1, 5)),
    min_size=1,
    max_size=60,
)


def assert_partition(n: int, *parts: tuple[int, ...]) -> None:
    flat = [i for part in parts for i in part]
    assert sorted(flat) == list(range(n))  # every index exactly once


@given(rows)
def test_leave_one_speaker_out_is_speaker_disjoint_and_complete(data) -> None:
    utterances = make(data)
    folds = leave_one_speaker_out(utterances)
    assert [f.held_out for f in folds] == sorted({u.speaker for u in utterances})
    for fold in folds:
        assert_partition(len(utterances), fold.train, fold.test)
        assert {u.speaker for u in take(utterances, fold.test)} == {fold.held_out}
        assert fold.held_out not in {u.speaker for u in take(utterances, fold.train)}
        assert list(fold.test) == sorted(fold.test)
    assert_partition(len(utterances), *(fold.test for fold in folds))


@given(rows)
def test_leave_one_session_out_holds_out_whole_sessions(data) -> None:
    utterances = make(data)
    folds = leave_one_session_out(utterances)
    assert len(folds) == len({u.session for u in utterances})
    for fold in folds:
        assert_partition(len(utterances), fold.train, fold.test)
        test_sessions = {u.session for u in take(utterances, fold.test)}
        assert len(test_sessions) == 1
        assert not test_sessions & {u.session for u in take(utterances, fold.train)}
    assert_partition(len(utterances), *(fold.test for fold in folds))


@settings(max_examples=60, deadline=None)
@given(
    rows.filter(lambda r: len({s for s, _, _ in r}) >= 3),
    st.sampled_from([(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (0.5, 0.5, 0.0), (1.0, 0.0, 0.0)]),
    st.integers(0, 2**16),
)
def test_speaker_split_is_speaker_disjoint_complete_and_seeded(data, fractions, seed) -> None:
    utterances = make(data)
    split = speaker_split(utterances, fractions, seed=seed, attempts=20)
    assert_partition(len(utterances), split.train, split.val, split.test)
    parts = [split.train, split.val, split.test]
    speakers = [{u.speaker for u in take(utterances, part)} for part in parts]
    assert not speakers[0] & speakers[1]
    assert not speakers[0] & speakers[2]
    assert not speakers[1] & speakers[2]
    for part, share in zip(parts, fractions, strict=True):
        assert bool(part) == (share > 0)
    assert speaker_split(utterances, fractions, seed=seed, attempts=20) == split


def test_speaker_split_puts_a_rare_class_in_every_split() -> None:
    # Ten speakers with the four classes; only three of them also recorded surprise.
    data = [(s, e, 1) for s in range(10) for e in FOUR_CLASS for _ in range(3)]
    data += [(s, SURPRISE, 1) for s in (2, 5, 7)]
    utterances = make(data)
    for seed in range(5):
        split = speaker_split(utterances, (0.8, 0.1, 0.1), seed=seed)
        for part in (split.train, split.val, split.test):
            assert {u.emotion for u in take(utterances, part)} == {*FOUR_CLASS, SURPRISE}


def test_speaker_split_fractions_count_speakers() -> None:
    utterances = make([(s, e, 1) for s in range(20) for e in (ANGRY, HAPPY, SAD, NEUTRAL)])
    split = speaker_split(utterances, (0.7, 0.15, 0.15), seed=3)
    counts = [
        len({u.speaker for u in take(utterances, p)}) for p in (split.train, split.val, split.test)
    ]
    assert counts == [14, 3, 3]
    assert speaker_split(utterances, (0.7, 0.15, 0.15), seed=4) != split


def test_iemocap_style_sessions_hold_out_both_speakers() -> None:
    data = [(2 * (s - 1) + g, NEUTRAL, s) for s in range(1, 6) for g in (0, 1)]
    folds = leave_one_session_out(make(data))
    assert [f.held_out for f in folds] == [f"t:Session{s}" for s in range(1, 6)]
    assert all(len(f.test) == 2 for f in folds)


def test_session_folds_need_sessions() -> None:
    utterances = [Utterance(Path("a.wav"), SAD, "emodb:03", MALE, "emodb")]
    with pytest.raises(CorpusError, match="use leave-one-speaker-out"):
        leave_one_session_out(utterances)


def test_speaker_split_rejects_too_few_speakers_and_bad_fractions() -> None:
    utterances = make([(0, SAD, 1), (1, ANGRY, 1)])
    with pytest.raises(CorpusError, match="needs at least 3 speakers, the data has 2"):
        speaker_split(utterances)
    with pytest.raises(ValueError, match="sum to 1"):
        speaker_split(utterances, (0.5, 0.1, 0.1))
    with pytest.raises(ValueError, match="train > 0"):
        speaker_split(utterances, (0.0, 0.5, 0.5))
