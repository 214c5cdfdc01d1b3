"""Selective prediction metrics for the out-of-distribution gate.

The gate lets the model answer "uncertain" instead of guessing: an utterance is
accepted when its confidence score (higher = more in distribution, as in
`streamser.ood`) is at or above a threshold. Such a gate trades coverage (the share
accepted) for accuracy on the accepted, so it is judged by the whole risk-coverage
curve rather than by one threshold; the calibrated threshold is then one point on
it. Area under that curve (AURC) and its excess over an oracle ranking (E-AURC)
follow Geifman & El-Yaniv 2017, "Selective classification for deep neural
networks" (NeurIPS), and Geifman et al. 2019, "Bias-reduced uncertainty estimation
for deep neural classifiers" (ICLR), which names E-AURC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Slack for float coverage products such as 0.29 * 100 landing just above an integer.
_EPS = 1e-9


@dataclass(frozen=True)
class RiskCoverage:
    """One point per distinct score, from the highest score down.

    Attributes:
        coverage: Share of utterances accepted at each threshold, increasing to 1.
        risk: Selective risk (error rate among the accepted) at each threshold.
        thresholds: The distinct scores, descending; accepting `score >= thresholds[i]`
            gives `coverage[i]` and `risk[i]`.
    """

    coverage: np.ndarray
    risk: np.ndarray
    thresholds: np.ndarray


@dataclass(frozen=True)
class SelectiveReport:
    """Selective prediction summary of one gate on one evaluation set.

    Attributes:
        n: Utterances scored.
        threshold: The calibrated acceptance threshold.
        aurc: Area under the risk-coverage curve; lower is better.
        e_aurc: AURC minus the oracle's AURC; 0 is a perfect ranking.
        accuracy_at_coverage: Accuracy among the top share by score, keyed "50%", ...
        threshold_coverage: Share accepted at the threshold.
        threshold_accuracy: Accuracy among those accepted at the threshold; None when
            the threshold accepts nothing.
    """

    n: int
    threshold: float
    aurc: float
    e_aurc: float
    accuracy_at_coverage: dict[str, float]
    threshold_coverage: float
    threshold_accuracy: float | None

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready values."""
        return {
            "n": self.n,
            "threshold": self.threshold,
            "aurc": self.aurc,
            "e_aurc": self.e_aurc,
            "accuracy_at_coverage": dict(self.accuracy_at_coverage),
            "threshold_coverage": self.threshold_coverage,
            "threshold_accuracy": self.threshold_accuracy,
        }


def _scores(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or not len(scores):
        raise ValueError(f"need a non-empty 1-D array of scores (got shape {scores.shape})")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite")
    return scores


def _correct(correct: np.ndarray) -> np.ndarray:
    raw = np.asarray(correct)
    if raw.ndim != 1 or not len(raw):
        raise ValueError(f"need a non-empty 1-D array of correctness (got shape {raw.shape})")
    if not np.all((raw == 0) | (raw == 1)):
        raise ValueError("correct must hold only booleans or 0/1")
    return raw.astype(bool)


def _paired(scores: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores, correct = _scores(scores), _correct(correct)
    if len(scores) != len(correct):
        raise ValueError(f"got {len(scores)} scores but {len(correct)} correctness values")
    return scores, correct


def risk_coverage(scores: np.ndarray, correct: np.ndarray) -> RiskCoverage:
    """The risk-coverage curve of accepting by score, highest first.

    Tied scores are accepted or rejected together, so they make one step.

    Args:
        scores: Gate confidence per utterance, higher = more in distribution.
        correct: Whether the classifier's prediction for each utterance is right.

    Returns:
        One point per distinct score.
    """
    scores, correct = _paired(scores, correct)
    order = np.argsort(-scores, kind="stable")
    ranked, errors = scores[order], np.cumsum(~correct[order])
    # the last utterance of each run of equal scores closes a step
    ends = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])
    accepted = ends + 1
    return RiskCoverage(
        coverage=accepted / len(scores),
        risk=errors[ends] / accepted,
        thresholds=ranked[ends],
    )


def aurc(curve: RiskCoverage) -> float:
    """Area under the risk-coverage curve; lower is better.

    Each step's risk is weighted by its coverage increment, so without ties this is
    the mean selective risk over all n coverage levels (Geifman & El-Yaniv 2017).
    """
    increments = np.diff(np.r_[0.0, curve.coverage])
    return float(np.sum(curve.risk * increments))


def oracle_aurc(correct: np.ndarray) -> float:
    """AURC of an oracle that ranks every correct utterance before every wrong one."""
    correct = _correct(correct)
    n = len(correct)
    accepted = np.arange(1, n + 1)
    errors = np.maximum(accepted - int(correct.sum()), 0)
    return float(np.sum(errors / accepted) / n)


def excess_aurc(scores: np.ndarray, correct: np.ndarray) -> float:
    """E-AURC: AURC minus the oracle's, so 0 is a perfect ranking for this classifier.

    Unlike AURC it does not reward a classifier for simply making fewer errors, so it
    compares gates across models (Geifman et al. 2019).
    """
    return aurc(risk_coverage(scores, correct)) - oracle_aurc(correct)


def accuracy_at_coverage(scores: np.ndarray, correct: np.ndarray, coverage: float) -> float:
    """Accuracy among the `coverage` share of utterances with the highest scores.

    The share is rounded up to at least one utterance. When the cut falls inside a run
    of tied scores, the tied utterances count with their mean accuracy (the expected
    value of breaking the tie at random), so input order never matters.

    Args:
        scores: Gate confidence per utterance, higher = more in distribution.
        correct: Whether the classifier's prediction for each utterance is right.
        coverage: Share to accept, in (0, 1]; 1.0 gives the overall accuracy.
    """
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage {coverage} is outside (0, 1]")
    scores, correct = _paired(scores, correct)
    n = len(scores)
    k = max(1, int(np.ceil(coverage * n - _EPS)))
    cut = np.sort(scores)[::-1][k - 1]
    above, tied = scores > cut, scores == cut
    right = correct[above].sum() + (k - above.sum()) * correct[tied].mean()
    return float(right / k)


def accepted_share(scores: np.ndarray, threshold: float) -> float:
    """Share of utterances whose score is at or above `threshold`."""
    return float(np.mean(_scores(scores) >= threshold))


def _coverage_key(coverage: float) -> str:
    return f"{coverage * 100:g}%"


def selective_report(
    scores: np.ndarray,
    correct: np.ndarray,
    threshold: float,
    coverages: Iterable[float] = (0.5, 0.8, 1.0),
) -> SelectiveReport:
    """AURC, E-AURC, accuracy at fixed coverages and the operating point at `threshold`.

    Args:
        scores: Gate confidence per utterance, higher = more in distribution.
        correct: Whether the classifier's prediction for each utterance is right.
        threshold: The calibrated acceptance threshold.
        coverages: Shares in (0, 1] to report accuracy at, keyed like "80%".
    """
    scores, correct = _paired(scores, correct)
    accepted = scores >= threshold
    return SelectiveReport(
        n=len(scores),
        threshold=float(threshold),
        aurc=aurc(risk_coverage(scores, correct)),
        e_aurc=excess_aurc(scores, correct),
        accuracy_at_coverage={
            _coverage_key(c): accuracy_at_coverage(scores, correct, c) for c in coverages
        },
        threshold_coverage=float(accepted.mean()),
        threshold_accuracy=float(correct[accepted].mean()) if accepted.any() else None,
    )


def plot_risk_coverage(curves: Mapping[str, RiskCoverage], path: Path | str, title: str) -> Path:
    """Risk-coverage curves, one line per name with its AURC in the legend, as a PNG.

    Lines are drawn as steps so the area under each is exactly its AURC.
    """
    if not curves:
        raise ValueError("need at least one risk-coverage curve to plot")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    path = Path(path)
    figure, axes = plt.subplots(figsize=(6, 4.5))
    for name, curve in curves.items():
        axes.plot(
            np.r_[0.0, curve.coverage],
            np.r_[curve.risk[:1], curve.risk],
            drawstyle="steps-pre",
            label=f"{name} (AURC {aurc(curve):.3f})",
        )
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("coverage (share accepted)")
    axes.set_ylabel("selective risk (error rate among accepted)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
