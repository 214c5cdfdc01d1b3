"""OOD metrics: ID positive, higher = ID, checked against scikit-learn and by hand."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from training.ood.metrics import aupr_in, aupr_out, auroc, fpr_at_tpr, ood_metrics


def test_perfect_separation():
    m = ood_metrics(np.array([5.0, 6.0, 7.0]), np.array([1.0, 2.0]))
    assert (m.auroc, m.aupr_in, m.aupr_out, m.fpr_at_95_tpr) == (1.0, 1.0, 1.0, 0.0)
    assert (m.id_count, m.ood_count) == (3, 2)


def test_reversed_scores_are_the_worst_case():
    m = ood_metrics(np.array([1.0, 2.0]), np.array([5.0, 6.0, 7.0]))
    assert m.auroc == 0.0
    assert m.fpr_at_95_tpr == 1.0
    assert m.aupr_in == pytest.approx(average_precision_score([1, 1, 0, 0, 0], [1, 2, 5, 6, 7]))


def test_all_tied_is_chance():
    m = ood_metrics(np.zeros(4), np.zeros(6))
    assert m.auroc == 0.5
    assert m.aupr_in == pytest.approx(0.4)  # the ID share
    assert m.aupr_out == pytest.approx(0.6)
    assert m.fpr_at_95_tpr == 1.0  # the only threshold that accepts any ID accepts all


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_scikit_learn_on_random_scores_with_ties(seed):
    rng = np.random.default_rng(seed)
    id_scores = rng.integers(0, 6, 40).astype(float)  # small integers: many ties
    ood_scores = rng.integers(-2, 4, 30).astype(float)
    labels = np.r_[np.ones(40), np.zeros(30)]
    scores = np.r_[id_scores, ood_scores]
    assert auroc(id_scores, ood_scores) == pytest.approx(roc_auc_score(labels, scores))
    assert aupr_in(id_scores, ood_scores) == pytest.approx(average_precision_score(labels, scores))
    assert aupr_out(id_scores, ood_scores) == pytest.approx(
        average_precision_score(1 - labels, -scores)
    )


def test_fpr_at_95_tpr_by_hand():
    # 20 ID scores 1..20: accepting 95 % (19 of 20) needs threshold 2.
    id_scores = np.arange(1.0, 21.0)
    # OOD at 1.5 is rejected by threshold 2; 2, 3 and 10 are accepted: 3 of 4.
    ood_scores = np.array([1.5, 2.0, 3.0, 10.0])
    assert fpr_at_tpr(id_scores, ood_scores) == pytest.approx(0.75)
    # At 100 % TPR the threshold is 1, which accepts every OOD score.
    assert fpr_at_tpr(id_scores, ood_scores, tpr=1.0) == 1.0
    # At 50 % TPR (threshold 11) none is accepted.
    assert fpr_at_tpr(id_scores, ood_scores, tpr=0.5) == 0.0


def test_fpr_at_95_tpr_matches_a_brute_force_threshold_search():
    rng = np.random.default_rng(7)
    for _ in range(20):
        id_scores = np.round(rng.normal(1, 1, 57), 1)
        ood_scores = np.round(rng.normal(0, 1, 33), 1)
        # the highest threshold t with share(id >= t) >= 0.95, then share(ood >= t)
        candidates = np.unique(id_scores)
        t = max(c for c in candidates if np.mean(id_scores >= c) >= 0.95)
        assert fpr_at_tpr(id_scores, ood_scores) == pytest.approx(np.mean(ood_scores >= t))


def test_rejects_empty_and_non_finite_input():
    with pytest.raises(ValueError, match="need ID and OOD"):
        auroc(np.array([]), np.array([1.0]))
    with pytest.raises(ValueError, match="finite"):
        auroc(np.array([np.nan]), np.array([1.0]))
    with pytest.raises(ValueError, match="outside"):
        fpr_at_tpr(np.array([1.0]), np.array([0.0]), tpr=0)
