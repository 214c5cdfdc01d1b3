"""OOD calibration: thresholds accept the share of in-distribution data they promise."""

import numpy as np
import pytest

from streamser.metadata import decode_array
from streamser.ood import OodGate, OodOptions
from training.ood.calibration import calibrate, embedding_params


def clusters(n: int, rng: np.random.Generator, dim: int = 16, classes: int = 4):
    centres = np.eye(classes, dim) * 3
    labels = rng.integers(0, classes, n)
    embeddings = centres[labels] + 0.3 * rng.standard_normal((n, dim))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    logits = 10 * embeddings @ (centres / 3).T
    return logits, embeddings, labels


@pytest.mark.parametrize("method", ["energy", "msp", "max_logit", "mahalanobis", "knn"])
def test_each_method_accepts_the_calibrated_share_of_fresh_in_distribution_data(method):
    rng = np.random.default_rng(0)
    _, train_embeddings, train_labels = clusters(2000, rng)
    val_logits, val_embeddings, _ = clusters(2000, rng)
    params = embedding_params(train_embeddings, train_labels, classes=4)
    calibration = calibrate(val_logits, val_embeddings, method=method, tpr=0.9, params=params)
    gate = OodGate(calibration)
    logits, embeddings, _ = clusters(2000, rng)
    accepted = np.mean(
        [gate.decide(lo, em).accepted for lo, em in zip(logits, embeddings, strict=True)]
    )
    assert accepted == pytest.approx(0.9, abs=0.03)


def test_embedding_methods_reject_what_lies_between_the_classes():
    rng = np.random.default_rng(1)
    _, train_embeddings, train_labels = clusters(2000, rng)
    val_logits, val_embeddings, _ = clusters(1000, rng)
    params = embedding_params(train_embeddings, train_labels, classes=4)
    calibration = calibrate(val_logits, val_embeddings, params=params)
    outlier = np.zeros(16)
    outlier[8:] = 1 / np.sqrt(8)  # orthogonal to every class centre
    for method in ("mahalanobis", "knn"):
        gate = OodGate(calibration, OodOptions(method=method))
        assert not gate.decide(np.zeros(4), outlier).accepted


def test_reference_set_is_float16_and_bounded():
    rng = np.random.default_rng(2)
    _, embeddings, labels = clusters(3000, rng)
    params = embedding_params(embeddings, labels, classes=4)
    assert params["reference"]["dtype"] == "float16"
    assert params["reference"]["shape"] == [512, 16]


def test_embedding_methods_need_their_parameters():
    logits, embeddings, _ = clusters(100, np.random.default_rng(3))
    with pytest.raises(ValueError, match="without embedding parameters"):
        calibrate(logits, embeddings, method="knn")


def test_a_float16_precision_matrix_keeps_its_promise_and_large_ones_stay_float32():
    rng = np.random.default_rng(4)
    _, train_embeddings, train_labels = clusters(2000, rng)
    val_logits, val_embeddings, _ = clusters(2000, rng)
    params = embedding_params(train_embeddings, train_labels, 4, precision_dtype="float16")
    assert params["precision"]["dtype"] == "float16"
    calibration = calibrate(val_logits, val_embeddings, "mahalanobis", tpr=0.9, params=params)
    gate = OodGate(calibration)
    logits, embeddings, _ = clusters(2000, rng)
    decisions = [gate.decide(lo, em) for lo, em in zip(logits, embeddings, strict=True)]
    assert np.mean([d.accepted for d in decisions]) == pytest.approx(0.9, abs=0.03)
    tiny = embedding_params(1e-4 * train_embeddings, train_labels, 4, precision_dtype="float16")
    assert tiny["precision"]["dtype"] == "float32"  # entries beyond float16's range


def test_unlabelled_speech_widens_the_gate_to_voices_like_it_and_not_to_anything_else():
    rng = np.random.default_rng(2)
    _, train_embeddings, train_labels = clusters(1000, rng)
    val_logits, val_embeddings, _ = clusters(500, rng)
    centre = np.zeros(16)
    centre[8:12] = 3.0  # voices the labelled corpora do not cover

    def voices(n: int) -> np.ndarray:
        x = centre + 0.3 * rng.standard_normal((n, 16))
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    fit, threshold_voices, held_out = voices(600), voices(300), voices(300)
    unlike_anything = np.eye(16)[15]

    def gate(params: dict) -> OodGate:  # threshold on the corpora's and further voices
        positives = np.concatenate([val_embeddings, threshold_voices])
        logits = np.concatenate([val_logits, val_logits[:300]])
        return OodGate(calibrate(logits, positives, "mahalanobis", params=params))

    def accepted(gate: OodGate, vectors: np.ndarray) -> float:
        return float(np.mean([gate.decide(val_logits[0], v).accepted for v in vectors]))

    plain = gate(embedding_params(train_embeddings, train_labels, classes=4))
    widened_params = embedding_params(train_embeddings, train_labels, classes=4, speech=fit)
    widened = gate(widened_params)
    assert accepted(plain, held_out) < 0.9  # the threshold alone stretches, and only so far
    assert accepted(widened, held_out) > 0.95
    assert accepted(widened, val_embeddings) > 0.9
    assert accepted(widened, unlike_anything[None]) == 0.0
    assert len(decode_means(widened_params)) > 4  # the speech's centres join the class means


def decode_means(params: dict) -> np.ndarray:
    return decode_array(params["class_means"])
