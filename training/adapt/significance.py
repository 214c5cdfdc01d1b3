"""Paired bootstrap of a UA difference between two table rows on the same utterances.

Both rows were run with the same seeds on the same scored target utterances, so their
predictions pair up utterance by utterance. The statistic is the UA difference averaged
over seeds; each bootstrap resample draws the scored utterances with replacement (one
draw shared by every seed and both rows: that is the pairing) and recomputes it. The
interval is the 2.5th-97.5th percentile of the resampled differences; the p-value is
two-sided, twice the smaller share of resamples on either side of zero (at least
1 / resamples). What it covers: which utterances happened to be in the target. What it
does not: the spread over seeds beyond the ones run, or other speakers than the
corpus's (utterances of one speaker are resampled as if independent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
SEED = 0


@dataclass(frozen=True)
class PairedDifference:
    """Attributes:
    difference: Mean over seeds of UA(a) - UA(b), in points (%).
    low, high: The bootstrap's 95 % interval of that difference, in points.
    p_value: Two-sided.
    utterances: Scored utterances resampled.
    seeds: Seeds paired.
    """

    difference: float
    low: float
    high: float
    p_value: float
    utterances: int
    seeds: int


def unweighted_recall(
    truth: np.ndarray, predicted: np.ndarray, weights: np.ndarray, classes: int
) -> np.ndarray:
    """UA per weighting: mean over classes present of recall. weights [resamples, n]."""
    onehot = np.eye(classes)[truth]  # [n, classes]
    hits = onehot * (predicted == truth)[:, None]
    totals = weights @ onehot  # [resamples, classes]
    correct = weights @ hits
    present = totals > 0
    recall = np.where(present, correct / np.where(present, totals, 1), 0.0)
    return recall.sum(axis=1) / present.sum(axis=1)


def paired_bootstrap(
    truth: Sequence[int],
    predictions_a: Sequence[Sequence[int]],
    predictions_b: Sequence[Sequence[int]],
    classes: int,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> PairedDifference:
    """UA(a) - UA(b) with its bootstrap interval and p-value.

    Args:
        truth: Labels of the scored utterances.
        predictions_a, predictions_b: Per seed, each row's predictions on those utterances
            (the same seeds in the same order).
    """
    truth = np.asarray(truth)
    if len(predictions_a) != len(predictions_b) or not predictions_a:
        raise ValueError("paired bootstrap needs the same seeds for both rows")
    n = len(truth)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
    observed = np.ones((1, n))
    point, samples = 0.0, np.zeros(resamples)
    for a, b in zip(predictions_a, predictions_b, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        point += (
            unweighted_recall(truth, a, observed, classes)[0]
            - unweighted_recall(truth, b, observed, classes)[0]
        )
        samples += unweighted_recall(truth, a, weights, classes) - unweighted_recall(
            truth, b, weights, classes
        )
    k = len(predictions_a)
    point, samples = 100 * point / k, 100 * samples / k
    tail = min((samples <= 0).mean(), (samples >= 0).mean())
    return PairedDifference(
        difference=float(point),
        low=float(np.percentile(samples, 2.5)),
        high=float(np.percentile(samples, 97.5)),
        p_value=float(min(1.0, max(2 * tail, 1.0 / resamples))),
        utterances=n,
        seeds=k,
    )
