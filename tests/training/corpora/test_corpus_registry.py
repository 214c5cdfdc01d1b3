from __future__ import annotations

from pathlib import Path

import pytest

from streamser.labels import (
    ANGRY,
    DISGUST,
    EMOTIONS,
    FEAR,
    FEMALE,
    HAPPY,
    NEUTRAL,
    SAD,
    SURPRISE,
)
from training.corpora import (
    CORPORA,
    DIDAN_TASKS,
    LOADERS,
    CorpusError,
    Utterance,
    corpus_classes,
    cross_corpus_tasks,
    filter_classes,
    load_corpus,
    shared_classes,
)


def test_every_public_corpus_is_registered() -> None:
    assert set(LOADERS) == {
        "emodb",
        "iemocap",
        "ravdess",
        "casia",
        "enterface",
        "cremad",
        "manifest",
    }
    for name, corpus in CORPORA.items():
        assert corpus.name == name
        assert corpus.classes is None or set(corpus.classes) <= set(EMOTIONS)


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_empty_folder_is_a_one_line_error_naming_it(name: str, tmp_path: Path) -> None:
    with pytest.raises(CorpusError) as info:
        load_corpus(name, tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path}/: ")
    assert "expected" in message
    assert "\n" not in message


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_missing_folder_is_an_error(name: str, tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="not a directory"):
        load_corpus(name, tmp_path / "missing")


def test_unknown_corpus_lists_the_known_ones() -> None:
    with pytest.raises(CorpusError, match=r"unknown corpus 'msp'.*emodb.*cremad"):
        load_corpus("msp", ".")


def test_load_corpus_passes_options(tmp_path: Path, make_wav) -> None:
    make_wav(tmp_path / "Actor_02" / "03-02-04-01-01-01-02.wav")
    with pytest.raises(CorpusError):
        load_corpus("ravdess", tmp_path)  # only a sung file
    (utterance,) = load_corpus("RAVDESS", tmp_path, song=True)
    assert (utterance.emotion, utterance.gender) == (SAD, FEMALE)


def test_didan_pairs_share_the_published_classes() -> None:
    assert shared_classes("emodb", "enterface") == (HAPPY, ANGRY, SAD, FEAR, DISGUST)
    assert shared_classes("emodb", "casia") == (NEUTRAL, HAPPY, ANGRY, SAD, FEAR)
    assert shared_classes("enterface", "casia") == (HAPPY, ANGRY, SAD, FEAR, SURPRISE)
    assert shared_classes("emodb", "enterface", "casia") == (HAPPY, ANGRY, SAD, FEAR)
    assert shared_classes("casia", "emodb") == shared_classes("emodb", "casia")


def test_didan_tasks_cover_every_ordered_pair() -> None:
    names = {task.name for task in DIDAN_TASKS}
    assert len(DIDAN_TASKS) == 6
    assert "emodb->enterface" in names and "enterface->emodb" in names
    for task in DIDAN_TASKS:
        assert task.classes == shared_classes(task.source, task.target)
    assert cross_corpus_tasks(["iemocap", "cremad"])[0].classes == (NEUTRAL, HAPPY, ANGRY, SAD)


def test_corpus_classes_and_manifest_has_none() -> None:
    assert corpus_classes("iemocap") == (NEUTRAL, HAPPY, ANGRY, SAD)
    assert len(corpus_classes("ravdess")) == 8
    with pytest.raises(CorpusError, match="no fixed class set"):
        shared_classes("emodb", "manifest")
    with pytest.raises(CorpusError):
        shared_classes()


def test_filter_classes_keeps_order_and_rejects_typos() -> None:
    def utterance(emotion: str, n: int) -> Utterance:
        return Utterance(Path(f"{n}.wav"), emotion, "x:1", FEMALE, "x")

    data = [utterance(e, i) for i, e in enumerate([ANGRY, DISGUST, SAD, NEUTRAL, ANGRY])]
    kept = filter_classes(data, shared_classes("enterface", "casia"))
    assert [u.path.name for u in kept] == ["0.wav", "2.wav", "4.wav"]
    with pytest.raises(ValueError, match="anger"):
        filter_classes(data, ["anger"])


def test_utterance_is_frozen_and_validated() -> None:
    u = Utterance("a.wav", ANGRY, "x:1", FEMALE, "x", extra={"k": "v"})  # type: ignore[arg-type]
    assert u.path == Path("a.wav")
    with pytest.raises(AttributeError):
        u.emotion = SAD  # type: ignore[misc]
    with pytest.raises(TypeError):
        u.extra["k"] = "w"  # type: ignore[index]
    assert hash(u) == hash(Utterance(Path("a.wav"), ANGRY, "x:1", FEMALE, "x"))
    with pytest.raises(ValueError, match="emotion 'excited'"):
        Utterance(Path("a.wav"), "excited", "x:1", FEMALE, "x")
    with pytest.raises(ValueError, match="gender"):
        Utterance(Path("a.wav"), ANGRY, "x:1", "F", "x")
