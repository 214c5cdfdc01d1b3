"""The protocol's shared parts: the plan, folds by speaker, a fold's result, channels.

`training.crossval` runs rows over these folds; row kinds defined elsewhere (the
accurate tier's encoder head, `training.encoder.row`) produce the same `FoldResult`,
so every row is scored and reported alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from streamser.audio.formats import float_to_int16, int16_to_float
from streamser.errors import StreamserError
from training.channel import telephone
from training.corpora import Utterance

CHANNELS = ("wideband", "telephone")
LOSO_MAX_SPEAKERS = 12
"""Up to this many speakers, one fold per speaker; above, `folds` folds by speaker."""


@dataclass(frozen=True)
class Fold:
    """Attributes:
    index: Fold number, from 0.
    test_speakers: Speakers scored in this fold.
    validation_speakers: Held out of training, for early stopping and calibration.
    """

    index: int
    test_speakers: tuple[str, ...]
    validation_speakers: tuple[str, ...]


def speaker_folds(utterances: Sequence[Utterance], folds: int, seed: int = 0) -> list[Fold]:
    """One fold per speaker up to LOSO_MAX_SPEAKERS speakers, else `folds` folds.

    Larger corpora are dealt into folds round-robin after a seeded shuffle. Each
    fold's validation speaker is the next fold's first test speaker, so every
    speaker validates exactly once too.

    Raises:
        StreamserError: Fewer than three speakers (no train/validation/test).
    """
    speakers = sorted({u.speaker for u in utterances})
    if len(speakers) < 3:
        raise StreamserError(
            f"cross-validation needs at least 3 speakers, the data has {len(speakers)}"
        )
    if len(speakers) <= LOSO_MAX_SPEAKERS:
        groups = [[s] for s in speakers]
    else:
        order = np.random.default_rng(seed).permutation(speakers).tolist()
        groups = [order[i::folds] for i in range(folds)]
    return [
        Fold(i, tuple(group), (groups[(i + 1) % len(groups)][0],)) for i, group in enumerate(groups)
    ]


@dataclass(frozen=True)
class CrossValidationPlan:
    """Attributes:
    data: The corpora cross-validated (NAME=DIR or manifest CSV), every speaker tested.
    extra: Corpora added to every fold's training set and never tested.
    classes: Emotion classes (utterances of others are left out).
    folds: Folds by speaker for corpora with more than LOSO_MAX_SPEAKERS speakers.
    seed: Seeds training and the fold assignment of large corpora.
    """

    data: tuple[str, ...]
    extra: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    folds: int = 5
    seed: int = 0


@dataclass
class FoldResult:
    """One row's predictions in one fold, per channel: class indices, and for MSAC-SERNet
    rows the logits, the gate's scores and its threshold. `predicted` is the offline
    reading of a speaker-normalised row; `readings` holds its other readings
    (`training.predict.READINGS`), per reading and channel."""

    fold: int
    true: list[int]
    predicted: dict[str, list[int]]
    logits: dict[str, list[list[float]]] = field(default_factory=dict)
    scores: dict[str, list[float]] = field(default_factory=dict)
    threshold: float | None = None
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)
    readings: dict[str, dict[str, list[int]]] = field(default_factory=dict)


def load_plan_data(plan: CrossValidationPlan) -> tuple[list[Utterance], list[Utterance]]:
    from training.experiment import load_data

    def kept(utterances: list[Utterance]) -> list[Utterance]:
        return [u for u in utterances if u.emotion in plan.classes]

    tested = kept(load_data(plan.data))
    extra = kept(load_data(plan.extra)) if plan.extra else []
    missing = sorted(set(plan.classes) - {u.emotion for u in tested})
    if missing:
        raise StreamserError(f"{', '.join(plan.data)}: no utterances of {', '.join(missing)}")
    return tested, extra


def through_telephone(audio: Sequence[np.ndarray]) -> list[np.ndarray]:
    """int16 utterances as heard through an 8 kHz mu-law call leg, back at 16 kHz."""
    return [float_to_int16(telephone(int16_to_float(a))) for a in audio]
