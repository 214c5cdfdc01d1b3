"""Speaker-independent splits.

A model that has heard a speaker in training recognises the speaker's voice as
much as the emotion, so every split here keeps speakers (or whole sessions) on one
side. Splits are index tuples into the list they were computed from; `take` turns
them back into utterances.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from training.corpora.base import CorpusError, Utterance


@dataclass(frozen=True)
class Fold:
    """One fold of a leave-one-group-out protocol.

    Attributes:
        held_out: The speaker or session tested in this fold.
        train: Indices of every other group's utterances, ascending.
        test: Indices of the held-out group's utterances, ascending.
    """

    held_out: str
    train: tuple[int, ...]
    test: tuple[int, ...]


@dataclass(frozen=True)
class Split:
    """A speaker-disjoint train/validation/test split (ascending index tuples).

    Attributes:
        train: Indices for training.
        val: Indices for model selection.
        test: Indices for the final score.
    """

    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]


def take(utterances: Sequence[Utterance], indices: Sequence[int]) -> list[Utterance]:
    """The utterances at `indices`, in that order."""
    return [utterances[i] for i in indices]


def leave_one_group_out(
    utterances: Sequence[Utterance], group: Callable[[Utterance], str]
) -> list[Fold]:
    """One fold per distinct `group(u)`, sorted by group, that tests that group alone."""
    members: dict[str, list[int]] = defaultdict(list)
    for i, utterance in enumerate(utterances):
        members[group(utterance)].append(i)
    folds = []
    for name in sorted(members):
        test = tuple(members[name])
        held = set(test)
        folds.append(Fold(name, tuple(i for i in range(len(utterances)) if i not in held), test))
    return folds


def leave_one_speaker_out(utterances: Sequence[Utterance]) -> list[Fold]:
    """Leave-one-speaker-out (LOSO) folds: the EmoDB, CASIA and RAVDESS protocol."""
    return leave_one_group_out(utterances, lambda u: u.speaker)


def leave_one_session_out(utterances: Sequence[Utterance]) -> list[Fold]:
    """Leave-one-session-out folds: the IEMOCAP protocol (both actors of a session out).

    Raises:
        CorpusError: Some utterance has no session (the corpus has none; use
            `leave_one_speaker_out`).
    """
    without = [u for u in utterances if u.session is None]
    if without:
        raise CorpusError(
            f"leave-one-session-out needs sessions, but {len(without)} utterance(s) have none "
            f"(e.g. {without[0].path}, corpus {without[0].corpus!r}); "
            "use leave-one-speaker-out"
        )
    return leave_one_group_out(utterances, lambda u: f"{u.corpus}:{u.session}")


def speaker_split(
    utterances: Sequence[Utterance],
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    *,
    seed: int = 0,
    attempts: int = 200,
) -> Split:
    """A seeded, speaker-disjoint train/val/test split.

    Speakers, not utterances, are divided by `fractions` (every non-zero share gets
    at least one speaker). Among `attempts` seeded shuffles the one that leaves the
    fewest classes missing from any split wins, ties going to the one whose
    utterance shares are closest to `fractions`; so each split has every class
    whenever some assignment tried achieves it, and the result depends only on the
    data and `seed`.

    Args:
        utterances: The data to split.
        fractions: Train, validation and test shares of the speakers; non-negative,
            summing to 1, train positive. A zero share yields an empty split.
        seed: Seed of the shuffles.
        attempts: How many shuffles to score.

    Raises:
        ValueError: Bad `fractions` or `attempts`.
        CorpusError: Too few speakers for the non-zero shares.
    """
    if len(fractions) != 3 or min(fractions) < 0 or fractions[0] <= 0:
        raise ValueError(f"fractions must be 3 non-negative shares, train > 0, got {fractions}")
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got {fractions} (sum {sum(fractions)})")
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")

    members: dict[str, list[int]] = defaultdict(list)
    for i, utterance in enumerate(utterances):
        members[utterance.speaker].append(i)
    speakers = sorted(members)
    sizes = _speaker_counts(len(speakers), fractions)
    classes = {u.emotion for u in utterances}
    speaker_classes = {s: {utterances[i].emotion for i in members[s]} for s in speakers}
    total = max(len(utterances), 1)

    rng = random.Random(seed)
    best: tuple[tuple[int, float], list[list[str]]] | None = None
    for _ in range(attempts):
        order = speakers[:]
        rng.shuffle(order)
        groups = [order[: sizes[0]], order[sizes[0] : sizes[0] + sizes[1]]]
        groups.append(order[sizes[0] + sizes[1] :])
        missing = sum(
            len(classes - set().union(*(speaker_classes[s] for s in group)))
            for group in groups
            if group
        )
        deviation = sum(
            abs(sum(len(members[s]) for s in group) / total - share)
            for group, share in zip(groups, fractions, strict=True)
        )
        score = (missing, deviation)
        if best is None or score < best[0]:
            best = (score, groups)
    assert best is not None
    train, val, test = (tuple(sorted(i for s in group for i in members[s])) for group in best[1])
    return Split(train, val, test)


def _speaker_counts(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Speakers per split: rounded shares, at least one for every non-zero share."""
    needed = sum(1 for f in fractions if f > 0)
    if n < needed:
        raise CorpusError(
            f"a speaker-disjoint split with shares {fractions} needs at least {needed} "
            f"speakers, the data has {n}"
        )
    val = max(1, round(fractions[1] * n)) if fractions[1] > 0 else 0
    test = max(1, round(fractions[2] * n)) if fractions[2] > 0 else 0
    # Rounding up the small shares must still leave train a speaker.
    while n - val - test < 1:
        if val >= test and val > 1:
            val -= 1
        else:
            test -= 1
    return n - val - test, val, test
