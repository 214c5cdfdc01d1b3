"""OOD evaluation: the runtime's scores, a planted confident mistake, the report's tables."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from streamser.model import Inference
from streamser.ood import OodGate, OodOptions, msp
from streamser.segmenter import SegmenterOptions, Span
from streamser.speaker import SpeakerStatistics
from streamser.stream import Job, StreamFront
from streamser.vad import WebRtcVad
from streamser.worker import Worker
from training.ood.calibration import calibrate, embedding_params
from training.ood.evaluation import (
    METHODS,
    ODIN_TEMPERATURE,
    Outputs,
    evaluate_ood,
    method_scores,
)
from training.ood.report import kinds_table, markdown_gate_tables, markdown_table
from training.ood.sets import OodSet

LABELS = ("neutral", "happy", "angry", "sad")
DIM = 16


def clusters(n: int, rng: np.random.Generator, spread: float = 0.3):
    """Four well-separated classes on the unit sphere and cosine logits."""
    centres = np.eye(4, DIM)
    labels = rng.integers(0, 4, n)
    embeddings = 3 * centres[labels] + spread * rng.standard_normal((n, DIM))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    return 10 * embeddings @ centres.T, embeddings, labels


def between_classes(n: int, rng: np.random.Generator):
    """Embeddings orthogonal to every class centre, with confident logits for class 0."""
    embeddings = np.zeros((n, DIM))
    embeddings[:, 4:] = rng.standard_normal((n, DIM - 4))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    logits = np.tile([9.0, 0.0, 0.0, 0.0], (n, 1)) + 0.1 * rng.standard_normal((n, 4))
    return logits, embeddings


@pytest.fixture(scope="module")
def calibration():
    rng = np.random.default_rng(0)
    _, train_embeddings, train_labels = clusters(1000, rng)
    val_logits, val_embeddings, _ = clusters(500, rng)
    params = embedding_params(train_embeddings, train_labels, classes=4)
    return calibrate(val_logits, val_embeddings, method="mahalanobis", params=params), val_logits


def fake_set(name: str, shift: str, n: int) -> OodSet:
    audio = tuple(np.zeros(10, np.int16) for _ in range(n))
    return OodSet(name, shift, name, audio, (None,) * n)  # type: ignore[arg-type]


def test_methods_are_the_runtime_functions(calibration):
    calib, _ = calibration
    logits, embeddings, _ = clusters(20, np.random.default_rng(1))
    for method in METHODS:
        ours = method_scores(method, logits, embeddings, calib)
        if method == "odin":
            np.testing.assert_array_equal(ours, msp(logits, ODIN_TEMPERATURE))
            continue
        gate = OodGate(calib, OodOptions(method=method))
        runtime = [gate.decide(lo, em).score for lo, em in zip(logits, embeddings, strict=True)]
        # batched and one-at-a-time BLAS may differ in the last bit
        np.testing.assert_allclose(ours, runtime, rtol=1e-12, atol=1e-12)


def test_embedding_methods_catch_what_confident_logits_hide(calibration):
    calib, val_logits = calibration
    rng = np.random.default_rng(2)
    logits, embeddings, labels = clusters(200, rng)
    positives = Outputs(logits, embeddings, labels)
    ood_logits, ood_embeddings = between_classes(100, rng)
    ood = Outputs(ood_logits, ood_embeddings, np.full(100, -1))
    result = evaluate_ood(
        "toy", calib, positives, "toy test", [(fake_set("planted", "semantic", 100), ood)],
        validation_logits=val_logits,
    )  # fmt: skip
    rows = {r.method: r for r in result.rows}
    assert set(rows) == set(METHODS)
    assert rows["msp"].metrics.fpr_at_95_tpr > 0.9  # confident logits: MSP accepts them
    for method in ("mahalanobis", "knn"):
        assert rows[method].metrics.auroc == 1.0
        assert rows[method].metrics.fpr_at_95_tpr == 0.0
        assert rows[method].accepted == 0.0
    assert result.best_by_set()["planted"] in ("mahalanobis", "knn")
    gate = {g.method: g for g in result.gate}
    assert all(g.threshold is not None for g in gate.values())  # ODIN's from validation logits
    assert gate["mahalanobis"].id_accepted == pytest.approx(0.95, abs=0.05)
    assert gate["msp"].accuracy_all == 1.0
    report = json.loads(json.dumps(result.to_json()))
    assert {r["method"] for r in report["rows"]} == set(METHODS)
    assert "| planted | semantic | mahalanobis | 1.000 |" in markdown_table(result)


def test_without_validation_logits_odin_has_metrics_but_no_threshold(calibration):
    calib, _ = calibration
    rng = np.random.default_rng(3)
    logits, embeddings, labels = clusters(50, rng)
    ood_logits, ood_embeddings = between_classes(20, rng)
    result = evaluate_ood(
        "toy", calib, Outputs(logits, embeddings, labels), "toy",
        [(fake_set("x", "semantic", 20), Outputs(ood_logits, ood_embeddings, np.full(20, -1)))],
    )  # fmt: skip
    assert all(r.accuracy_all is None for r in result.rows)  # unlabelled set
    odin = next(g for g in result.gate if g.method == "odin")
    assert odin.threshold is None and odin.id_accepted is None
    assert next(r for r in result.rows if r.method == "odin").accepted is None


def test_what_the_gate_accepts_is_both_tests_and_is_reported_by_kind(calibration):
    """Detection metrics rank the scores alone; acceptance also asks the voicing test,
    and a set with kinds says which kind gets through."""
    calib, _ = calibration
    rng = np.random.default_rng(5)
    logits, embeddings, labels = clusters(100, rng)
    voiced_speech = np.full(100, 0.8)
    voiced_speech[:10] = 0.1  # a tenth of the positives fail the voicing test
    positives = Outputs(logits, embeddings, labels, voiced=voiced_speech)
    # Twenty sounds in the training clusters, so the scores accept (nearly) all of them:
    # ten voiced ("hum"), ten not ("hiss").
    sound_logits, sound_embeddings, _ = clusters(20, rng)
    kinds = ("hum",) * 10 + ("hiss",) * 10
    sounds = OodSet("sounds", "semantic", "sounds", fake_set("s", "semantic", 20).audio,
                    (None,) * 20, kinds)  # fmt: skip
    heard = Outputs(sound_logits, sound_embeddings, np.full(20, -1),
                    voiced=np.array([0.9] * 10 + [0.05] * 10))  # fmt: skip
    result = evaluate_ood("toy", calib, positives, "toy", [(sounds, heard)])
    mahalanobis = next(r for r in result.rows if r.method == "mahalanobis")
    assert mahalanobis.accepted == pytest.approx(0.5)  # the hiss fails voicing
    gate = next(g for g in result.gate if g.method == "mahalanobis")
    assert gate.id_accepted <= 0.9 + 1e-9
    described = result.to_json()["sets"][0]
    assert described["voiced"] == 0.5
    by_kind = {k["kind"]: k for k in described["kinds"]}
    hum, hiss = by_kind["hum"], by_kind["hiss"]
    assert hum == {"kind": "hum", "utterances": 10, "voiced": 1.0, "score_accepted": 1.0,
                   "accepted": 1.0}  # fmt: skip
    assert hiss["voiced"] == hiss["accepted"] == 0.0 < hiss["score_accepted"]
    row = f"| sounds | hiss | 10 | 0% | {hiss['score_accepted']:.0%} | 0% |"
    assert row in kinds_table(result)
    off = evaluate_ood("toy", calib, positives, "toy", [(sounds, heard)], min_voiced_share=0.0)
    assert next(r for r in off.rows if r.method == "mahalanobis").accepted > 0.9  # hiss too


class PlantedModel:
    """Stands in for `EmotionModel`: whatever it hears, it is sure the speaker is neutral,
    from an embedding that lies between every class it was trained on."""

    labels = LABELS
    short_sha = "planted"

    def infer(self, waveform: np.ndarray, speaker: SpeakerStatistics | None = None) -> Inference:
        logits, embeddings = between_classes(1, np.random.default_rng(4))
        return Inference(logits[0], embeddings[0])


@pytest.mark.parametrize("method", ["mahalanobis", "knn"])
def test_the_gate_withholds_the_label_of_a_confident_mistake(calibration, method):
    calib, _ = calibration
    gate = OodGate(calib, OodOptions(method=method))
    front = StreamFront(0, "ch0", WebRtcVad(2), SegmenterOptions(), 16000 * 30)
    front.ring.write(np.zeros(16000, np.int16))
    front.ring.claim(0)
    job = Job(0, 0, Span(0, 16000, 30), arrived=time.monotonic())
    event = Worker(PlantedModel(), gate).handle(job, front)  # type: ignore[arg-type]
    assert event.confidence > 0.99  # the model is sure ...
    assert event.status == "uncertain" and event.label is None  # ... and the gate says no
    assert event.ood.score < event.ood.threshold
    assert front.counters.uncertain == 1 and front.counters.ok == 0
    # MSP, fooled by the same confidence, would have let the label through
    inference = PlantedModel().infer(np.zeros(16000, np.float32))
    msp_gate = OodGate(calib, OodOptions(method="msp"))
    assert msp_gate.decide(inference.logits, inference.embedding).accepted


def test_covariate_sets_report_accuracy_on_all_and_on_accepted(calibration):
    calib, _ = calibration
    rng = np.random.default_rng(8)
    logits, embeddings, labels = clusters(100, rng)
    # a covariate set: half in-distribution and right, half between classes and wrong
    ood_logits, ood_embeddings = between_classes(50, rng)
    shifted = Outputs(
        np.r_[logits[:50], ood_logits],
        np.r_[embeddings[:50], ood_embeddings],
        np.r_[labels[:50], np.full(50, 3)],  # class 3, where the logits say 0
    )
    audio = tuple(np.zeros(10, np.int16) for _ in range(100))
    covariate = OodSet("phone", "covariate", "phone", audio, ("sad",) * 100)
    result = evaluate_ood(
        "toy", calib, Outputs(logits, embeddings, labels), "toy", [(covariate, shifted)]
    )
    row = next(r for r in result.rows if r.method == "mahalanobis")
    assert row.accuracy_all == pytest.approx(0.5)
    assert row.accuracy_accepted == 1.0  # the gate kept only the in-distribution half
    assert "| phone | mahalanobis |" in markdown_gate_tables(result)


def test_extra_methods_are_scored_and_thresholded_from_their_validation_scores(calibration):
    calib, _ = calibration
    rng = np.random.default_rng(9)
    logits, embeddings, labels = clusters(100, rng)
    ood_logits, ood_embeddings = between_classes(40, rng)
    positives = Outputs(logits, embeddings, labels, {"odin_perturbed": rng.uniform(0.5, 1, 100)})
    ood = Outputs(ood_logits, ood_embeddings, np.full(40, -1), {"odin_perturbed": np.zeros(40)})
    result = evaluate_ood(
        "toy", calib, positives, "toy", [(fake_set("x", "semantic", 40), ood)],
        validation_extra={"odin_perturbed": rng.uniform(0.5, 1, 200)},
    )  # fmt: skip
    row = next(r for r in result.rows if r.method == "odin_perturbed")
    assert row.metrics.auroc == 1.0 and row.accepted == 0.0
    gate = next(g for g in result.gate if g.method == "odin_perturbed")
    assert gate.threshold == pytest.approx(0.525, abs=0.02)  # 5th percentile of U(0.5, 1)
