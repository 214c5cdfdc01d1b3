"""OOD scores: known values, "higher = more in-distribution", and the gate's threshold choice."""

import numpy as np
import pytest

from streamser.errors import ModelError
from streamser.metadata import OodCalibration
from streamser.ood import (
    OodGate,
    OodOptions,
    energy,
    knn,
    mahalanobis,
    max_logit,
    msp,
    ood_score,
    softmax,
    threshold_for_tpr,
)

CONFIDENT = np.array([10.0, 0.0, 0.0, 0.0])
FLAT = np.array([1.0, 1.0, 1.0, 1.0])


def test_softmax_is_stable_and_normalised():
    p = softmax(np.array([1000.0, 0.0, -1000.0]))
    assert np.isclose(p.sum(), 1.0) and np.isclose(p[0], 1.0)


def test_logit_scores_rank_a_confident_output_above_a_flat_one():
    for score in (msp, max_logit, energy):
        assert score(CONFIDENT) > score(FLAT), score.__name__


def test_logit_scores_known_values():
    assert msp(FLAT) == pytest.approx(0.25)
    assert max_logit(CONFIDENT) == pytest.approx(10.0)
    assert energy(FLAT) == pytest.approx(1.0 + np.log(4.0))
    assert energy(FLAT, temperature=2.0) == pytest.approx(1.0 + 2.0 * np.log(4.0))


def test_scores_are_batch_first():
    batch = np.stack([CONFIDENT, FLAT])
    assert msp(batch).shape == (2,)
    assert np.allclose(energy(batch), [energy(CONFIDENT), energy(FLAT)])


def test_mahalanobis_is_zero_at_a_class_mean_and_negative_elsewhere():
    means = np.array([[1.0, 0.0], [0.0, 1.0]])
    precision = np.eye(2) * 4.0
    assert mahalanobis(np.array([0.0, 1.0]), means, precision) == pytest.approx(0.0)
    assert mahalanobis(np.array([0.0, -1.0]), means, precision) == pytest.approx(-8.0)


def test_knn_uses_the_kth_neighbour_on_the_unit_sphere():
    reference = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    x = np.array([1.0, 0.0])
    assert knn(x, reference, k=1) == pytest.approx(0.0)
    assert knn(x, reference, k=2) == pytest.approx(-np.sqrt(2.0))
    assert knn(x * 5, reference * 3, k=3) == pytest.approx(-2.0)
    with pytest.raises(ValueError, match="k=4"):
        knn(x, reference, k=4)


def test_threshold_for_tpr_is_the_one_minus_tpr_quantile():
    quantiles = list(np.linspace(0.0, 100.0, 101))
    assert threshold_for_tpr(quantiles, 0.95) == pytest.approx(5.0)
    assert threshold_for_tpr(quantiles, 1.0) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="101"):
        threshold_for_tpr([0.0, 1.0], 0.9)


def calibration(**overrides) -> OodCalibration:
    fields = {
        "method": "energy",
        "threshold": 2.0,
        "tpr": 0.95,
        "id_quantiles": {"msp": list(np.linspace(0.2, 1.0, 101))},
    }
    return OodCalibration(**{**fields, **overrides})


def test_gate_uses_the_calibrated_threshold_and_reports_the_decision():
    gate = OodGate(calibration())
    accepted = gate.decide(CONFIDENT, np.zeros(2))
    assert (accepted.method, accepted.threshold, accepted.accepted) == ("energy", 2.0, True)
    rejected = gate.decide(np.full(4, -5.0), np.zeros(2))
    assert not rejected.accepted and rejected.score < 2.0


def test_gate_turns_away_what_is_not_voiced_however_well_it_scores(speechlike):
    gate = OodGate(calibration())
    noise = np.random.default_rng(0).standard_normal(len(speechlike)).astype(np.float32) * 0.1
    heard = gate.decide(CONFIDENT, np.zeros(2), noise)
    assert heard.score >= heard.threshold and not heard.accepted
    assert heard.voiced_share < heard.min_voiced_share == OodOptions().min_voiced_share
    voice = gate.decide(CONFIDENT, np.zeros(2), speechlike)
    assert voice.accepted and voice.voiced_share > 0.9


def test_gate_without_audio_or_with_the_test_off_decides_on_the_score_alone(speechlike):
    noise = np.random.default_rng(0).standard_normal(len(speechlike)).astype(np.float32) * 0.1
    off = OodGate(calibration(), OodOptions(min_voiced_share=0.0)).decide(
        CONFIDENT, np.zeros(2), noise
    )
    assert off.accepted and off.voiced_share is None
    assert OodGate(calibration()).decide(CONFIDENT, np.zeros(2)).accepted


def test_the_minimum_voiced_share_is_a_share():
    with pytest.raises(ValueError, match=r"minimum voiced share 1\.5 is outside"):
        OodOptions(min_voiced_share=1.5)


def test_gate_switches_method_and_tpr_through_the_quantiles():
    gate = OodGate(calibration(), OodOptions(method="msp", tpr=0.5))
    assert gate.threshold == pytest.approx(0.6)
    assert gate.decide(CONFIDENT, np.zeros(2)).accepted
    assert not gate.decide(FLAT, np.zeros(2)).accepted


def test_gate_refuses_an_override_the_model_was_not_calibrated_for():
    with pytest.raises(ModelError, match="no in-distribution quantiles for OOD method 'knn'"):
        OodGate(calibration(), OodOptions(method="knn"))
    with pytest.raises(ModelError, match="'energy'"):
        OodGate(calibration(), OodOptions(tpr=0.9))


def test_gate_refuses_missing_or_malformed_parameters():
    with pytest.raises(ModelError, match=r"needs ood.params\['class_means'\]"):
        OodGate(calibration(method="mahalanobis"))
    bad = {"class_means": [[0.0, 1.0]], "precision": [[1.0]]}
    with pytest.raises(ModelError, match="precision is"):
        OodGate(calibration(method="mahalanobis", params=bad))
    with pytest.raises(ModelError, match="k=5"):
        OodGate(calibration(method="knn", params={"reference": [[1.0, 0.0]], "k": 5}))


def test_gate_and_ood_score_agree_exactly():
    rng = np.random.default_rng(0)
    means = rng.standard_normal((4, 8))
    params = {"class_means": means.tolist(), "precision": np.eye(8).tolist()}
    cal = calibration(method="mahalanobis", params=params)
    logits, embedding = rng.standard_normal(4), rng.standard_normal(8)
    assert OodGate(cal).decide(logits, embedding).score == ood_score(
        "mahalanobis", logits, embedding, cal
    )


def test_a_non_finite_score_is_never_accepted():
    gate = OodGate(calibration(threshold=-1e9))
    assert not gate.decide(np.array([np.nan, 0.0, 0.0, 0.0]), np.zeros(2)).accepted


def test_options_validate():
    with pytest.raises(ValueError, match="unknown OOD method"):
        OodOptions(method="vibes")
    with pytest.raises(ValueError, match="outside"):
        OodOptions(tpr=1.5)
