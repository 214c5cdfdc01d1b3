"""Shared emotion sets for cross-corpus protocols.

A model trained on one corpus and tested on another can only be scored on the
emotions both have. The sets are computed from each corpus's class set in the
registry rather than typed in, so they stay right when a loader's classes change.
The DIDAN protocol (EmoDB "B", eNTERFACE "E", CASIA "C") is the standard example:
B-E share angry, disgust, fear, happy, sad; B-C angry, fear, happy, neutral, sad;
E-C angry, fear, happy, sad, surprise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import permutations

from streamser.labels import EMOTIONS
from training.corpora.base import CorpusError, Utterance
from training.corpora.registry import get_corpus


def corpus_classes(name: str) -> tuple[str, ...]:
    """The emotions of corpus `name`, in `streamser.labels.EMOTIONS` order.

    Raises:
        CorpusError: Unknown corpus, or one whose classes depend on its data.
    """
    corpus = get_corpus(name)
    if corpus.classes is None:
        raise CorpusError(
            f"corpus {corpus.name!r} has no fixed class set; "
            "take the classes from its loaded utterances instead"
        )
    return tuple(e for e in EMOTIONS if e in corpus.classes)


def shared_classes(*corpora: str) -> tuple[str, ...]:
    """The emotions every one of `corpora` has, in `EMOTIONS` order.

    Raises:
        CorpusError: No corpus given, or one that `corpus_classes` rejects.
    """
    if not corpora:
        raise CorpusError("shared_classes needs at least one corpus name")
    common = set(EMOTIONS)
    for name in corpora:
        common &= set(corpus_classes(name))
    return tuple(e for e in EMOTIONS if e in common)


def filter_classes(utterances: Iterable[Utterance], classes: Iterable[str]) -> list[Utterance]:
    """The utterances whose emotion is in `classes`, in their original order.

    Raises:
        ValueError: `classes` names something outside `EMOTIONS` (a typo would
            otherwise silently empty the data).
    """
    wanted = set(classes)
    unknown = wanted - set(EMOTIONS)
    if unknown:
        raise ValueError(
            f"unknown emotion(s) {', '.join(sorted(unknown))} (expected {', '.join(EMOTIONS)})"
        )
    return [u for u in utterances if u.emotion in wanted]


@dataclass(frozen=True)
class CrossCorpusTask:
    """Train on `source`, test on `target`, scored on the `classes` they share.

    Attributes:
        source: Corpus name the model is trained on.
        target: Corpus name it is adapted to and tested on.
        classes: The shared emotions, in `EMOTIONS` order.
    """

    source: str
    target: str
    classes: tuple[str, ...]

    @property
    def name(self) -> str:
        """ "emodb->enterface" style name for logs and result tables."""
        return f"{self.source}->{self.target}"


def cross_corpus_tasks(corpora: Sequence[str]) -> tuple[CrossCorpusTask, ...]:
    """Every ordered pair of distinct `corpora`, each with its shared classes."""
    return tuple(
        CrossCorpusTask(source, target, shared_classes(source, target))
        for source, target in permutations(corpora, 2)
    )


DIDAN_CODES: dict[str, str] = {"B": "emodb", "E": "enterface", "C": "casia"}
"""The one-letter corpus codes the DIDAN paper uses (B for Berlin)."""

DIDAN_TASKS: tuple[CrossCorpusTask, ...] = cross_corpus_tasks(tuple(DIDAN_CODES.values()))
"""B->E, B->C, E->B, E->C, C->B, C->E with the classes each pair shares."""
