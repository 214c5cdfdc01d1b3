"""Selective prediction metrics: risk-coverage, AURC and E-AURC by hand, ties, the report."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.selective import (
    RiskCoverage,
    accepted_share,
    accuracy_at_coverage,
    aurc,
    excess_aurc,
    oracle_aurc,
    plot_risk_coverage,
    risk_coverage,
    selective_report,
)

SCORES = np.array([0.9, 0.8, 0.7, 0.6])
CORRECT = np.array([1, 1, 0, 1])


def test_risk_coverage_by_hand():
    curve = risk_coverage(SCORES, CORRECT)
    np.testing.assert_allclose(curve.coverage, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(curve.risk, [0, 0, 1 / 3, 1 / 4])
    np.testing.assert_allclose(curve.thresholds, SCORES)


def test_aurc_is_the_mean_risk_without_ties():
    assert aurc(risk_coverage(SCORES, CORRECT)) == pytest.approx((1 / 3 + 1 / 4) / 4)  # 0.1458


def test_excess_aurc_by_hand():
    # the oracle puts the one error last: risks [0, 0, 0, 1/4]
    assert oracle_aurc(CORRECT) == pytest.approx(1 / 16)
    assert excess_aurc(SCORES, CORRECT) == pytest.approx(7 / 48 - 3 / 48)


def test_input_order_does_not_matter():
    order = np.array([2, 0, 3, 1])
    curve = risk_coverage(SCORES[order], CORRECT[order])
    np.testing.assert_allclose(curve.risk, [0, 0, 1 / 3, 1 / 4])


def test_tied_scores_make_one_step():
    scores = np.array([0.5, 0.9, 0.1, 0.5])
    correct = np.array([0, 1, 0, 1])
    curve = risk_coverage(scores, correct)
    np.testing.assert_allclose(curve.coverage, [0.25, 0.75, 1.0])
    np.testing.assert_allclose(curve.risk, [0, 1 / 3, 1 / 2])
    np.testing.assert_allclose(curve.thresholds, [0.9, 0.5, 0.1])
    # each step's risk weighted by its coverage increment
    assert aurc(curve) == pytest.approx(0 * 0.25 + 1 / 3 * 0.5 + 1 / 2 * 0.25)


def test_all_tied_is_one_point_at_the_overall_error_rate():
    curve = risk_coverage(np.zeros(5), np.array([1, 0, 1, 1, 0]))
    np.testing.assert_allclose(curve.coverage, [1.0])
    np.testing.assert_allclose(curve.risk, [0.4])
    assert aurc(curve) == pytest.approx(0.4)


def test_perfect_ranking_matches_the_oracle():
    correct = np.array([1, 1, 1, 0, 0, 1, 0])
    scores = np.where(correct == 1, 1.0, 0.0) + np.linspace(0, 0.1, len(correct))
    assert aurc(risk_coverage(scores, correct)) == pytest.approx(oracle_aurc(correct))
    assert excess_aurc(scores, correct) == pytest.approx(0.0, abs=1e-12)


def test_reversed_ranking_is_worse():
    correct = np.array([1, 1, 1, 0, 0, 1, 0])
    scores = np.where(correct == 1, 1.0, 0.0) + np.linspace(0, 0.1, len(correct))
    good = aurc(risk_coverage(scores, correct))
    bad = aurc(risk_coverage(-scores, correct))
    assert bad > good
    assert excess_aurc(-scores, correct) > 0


def test_all_correct_and_all_wrong():
    scores = np.array([0.3, 0.2, 0.1])
    assert aurc(risk_coverage(scores, np.ones(3))) == 0.0
    assert aurc(risk_coverage(scores, np.zeros(3))) == 1.0
    assert excess_aurc(scores, np.zeros(3)) == 0.0


def test_accuracy_at_full_coverage_is_overall_accuracy():
    rng = np.random.default_rng(0)
    scores, correct = rng.normal(size=50), rng.random(50) < 0.7
    assert accuracy_at_coverage(scores, correct, 1.0) == pytest.approx(correct.mean())


def test_accuracy_at_half_coverage_picks_the_top_half():
    scores = np.array([0.2, 0.9, 0.4, 0.8, 0.1, 0.7])
    correct = np.array([1, 1, 1, 0, 1, 1])
    # the top three by score are 0.9, 0.8 and 0.7: two of three right
    assert accuracy_at_coverage(scores, correct, 0.5) == pytest.approx(2 / 3)


def test_accuracy_at_coverage_keeps_at_least_one_and_rounds_up():
    assert accuracy_at_coverage(SCORES, CORRECT, 0.01) == 1.0  # just the top one
    assert accuracy_at_coverage(SCORES, CORRECT, 0.6) == pytest.approx(2 / 3)  # 2.4 -> 3


def test_accuracy_at_coverage_with_a_tie_at_the_cut_uses_the_tied_mean():
    scores = np.array([3.0, 2.0, 2.0, 1.0])
    for correct in ([1, 1, 0, 0], [1, 0, 1, 0]):
        # top 2: the 3.0 (right) plus half of the tied pair (one right, one wrong)
        assert accuracy_at_coverage(scores, np.array(correct), 0.5) == pytest.approx(0.75)


@pytest.mark.parametrize("coverage", [0.0, -0.1, 1.01])
def test_accuracy_at_coverage_rejects_bad_coverage(coverage):
    with pytest.raises(ValueError, match="coverage"):
        accuracy_at_coverage(SCORES, CORRECT, coverage)


def test_accepted_share_counts_scores_at_or_above_the_threshold():
    scores = np.array([0.1, 0.5, 0.5, 0.9])
    assert accepted_share(scores, 0.5) == 0.75
    assert accepted_share(scores, 0.95) == 0.0
    assert accepted_share(scores, 0.0) == 1.0


@pytest.mark.parametrize(
    "call",
    [
        lambda: risk_coverage(SCORES, CORRECT[:3]),
        lambda: excess_aurc(SCORES[:2], CORRECT),
        lambda: accuracy_at_coverage(SCORES, CORRECT[:1], 0.5),
        lambda: selective_report(SCORES, CORRECT[:3], 0.7),
    ],
)
def test_mismatched_lengths_raise(call):
    with pytest.raises(ValueError, match="scores but"):
        call()


@pytest.mark.parametrize(
    ("scores", "correct"),
    [
        (np.array([]), np.array([])),
        (np.array([0.1, np.nan]), np.array([1, 0])),
        (np.array([0.1, 0.2]), np.array([1, 2])),
    ],
)
def test_bad_inputs_raise(scores, correct):
    with pytest.raises(ValueError):
        risk_coverage(scores, correct)


def test_selective_report():
    report = selective_report(SCORES, CORRECT, threshold=0.75)
    assert report.n == 4
    assert report.aurc == pytest.approx(7 / 48)
    assert report.e_aurc == pytest.approx(4 / 48)
    assert report.accuracy_at_coverage == pytest.approx({"50%": 1.0, "80%": 0.75, "100%": 0.75})
    assert report.threshold_coverage == 0.5
    assert report.threshold_accuracy == 1.0
    as_dict = report.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["threshold"] == 0.75


def test_selective_report_threshold_that_accepts_nothing():
    report = selective_report(SCORES, CORRECT, threshold=2.0, coverages=(0.25,))
    assert report.threshold_coverage == 0.0
    assert report.threshold_accuracy is None
    assert report.accuracy_at_coverage == {"25%": 1.0}


def test_plot_writes_a_png(tmp_path):
    curves = {
        "gate": risk_coverage(SCORES, CORRECT),
        "reversed": risk_coverage(-SCORES, CORRECT),
    }
    path = plot_risk_coverage(curves, tmp_path / "risk_coverage.png", "Risk-coverage")
    assert path == tmp_path / "risk_coverage.png"
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 1000


def test_plot_needs_a_curve(tmp_path):
    with pytest.raises(ValueError, match="curve"):
        plot_risk_coverage({}, tmp_path / "empty.png", "nothing")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.booleans()),  # small integer scores: many ties
        min_size=1,
        max_size=40,
    )
)
def test_aurc_is_bounded_and_never_beats_the_oracle(pairs):
    scores = np.array([score for score, _ in pairs], dtype=float)
    correct = np.array([right for _, right in pairs])
    curve = risk_coverage(scores, correct)
    assert isinstance(curve, RiskCoverage)
    value = aurc(curve)
    assert 0.0 <= value <= 1.0
    assert value >= oracle_aurc(correct) - 1e-12
    assert excess_aurc(scores, correct) >= -1e-12
    assert curve.coverage[-1] == pytest.approx(1.0)
    assert curve.risk[-1] == pytest.approx(1 - correct.mean())
