"""How well a score separates in-distribution from out-of-distribution utterances.

Conventions of the OOD literature (Hendrycks & Gimpel 2017; Liang et al. 2018):
in-distribution (ID) utterances are the positives and every score is "higher =
in distribution", as in `streamser.ood`. The curves come from scikit-learn; only
FPR at 95 % TPR, which scikit-learn has no function for, is read off its ROC curve.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

TARGET_TPR = 0.95


@dataclass(frozen=True)
class OodMetrics:
    """Attributes:
    auroc: Area under the ROC curve (ID positive); 0.5 is chance.
    aupr_in: Average precision with ID as the positive class.
    aupr_out: Average precision with OOD as the positive class (scores negated).
    fpr_at_95_tpr: Share of OOD utterances accepted by the highest threshold that
        still accepts at least 95 % of ID utterances; lower is better.
    id_count: ID utterances.
    ood_count: OOD utterances.
    """

    auroc: float
    aupr_in: float
    aupr_out: float
    fpr_at_95_tpr: float
    id_count: int
    ood_count: int

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)


def _labelled(id_scores: np.ndarray, ood_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    id_scores = np.asarray(id_scores, dtype=np.float64).ravel()
    ood_scores = np.asarray(ood_scores, dtype=np.float64).ravel()
    if not len(id_scores) or not len(ood_scores):
        raise ValueError(f"need ID and OOD scores (got {len(id_scores)} ID, {len(ood_scores)} OOD)")
    scores = np.concatenate([id_scores, ood_scores])
    if not np.all(np.isfinite(scores)):
        raise ValueError("OOD scores must be finite")
    labels = np.concatenate([np.ones(len(id_scores)), np.zeros(len(ood_scores))])
    return labels, scores


def auroc(id_scores: np.ndarray, ood_scores: np.ndarray) -> float:
    labels, scores = _labelled(id_scores, ood_scores)
    return float(roc_auc_score(labels, scores))


def aupr_in(id_scores: np.ndarray, ood_scores: np.ndarray) -> float:
    labels, scores = _labelled(id_scores, ood_scores)
    return float(average_precision_score(labels, scores))


def aupr_out(id_scores: np.ndarray, ood_scores: np.ndarray) -> float:
    labels, scores = _labelled(id_scores, ood_scores)
    return float(average_precision_score(1 - labels, -scores))


def fpr_at_tpr(id_scores: np.ndarray, ood_scores: np.ndarray, tpr: float = TARGET_TPR) -> float:
    """The false-positive rate at the first ROC point whose true-positive rate reaches `tpr`.

    Tied scores are accepted or rejected together (one ROC point), so with ties the
    TPR reached may exceed `tpr`; the FPR is the one at that operating point.
    """
    if not 0 < tpr <= 1:
        raise ValueError(f"true-positive rate {tpr} is outside (0, 1]")
    labels, scores = _labelled(id_scores, ood_scores)
    fpr, tprs, _ = roc_curve(labels, scores, drop_intermediate=False)
    # tprs is non-decreasing; a tiny tolerance keeps 19/20 == 0.95 from missing
    index = int(np.searchsorted(tprs, tpr - 1e-12, side="left"))
    return float(fpr[index])


def ood_metrics(id_scores: np.ndarray, ood_scores: np.ndarray) -> OodMetrics:
    """All four metrics for one score method on one OOD set."""
    return OodMetrics(
        auroc=auroc(id_scores, ood_scores),
        aupr_in=aupr_in(id_scores, ood_scores),
        aupr_out=aupr_out(id_scores, ood_scores),
        fpr_at_95_tpr=fpr_at_tpr(id_scores, ood_scores, TARGET_TPR),
        id_count=int(np.size(id_scores)),
        ood_count=int(np.size(ood_scores)),
    )
