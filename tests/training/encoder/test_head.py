"""The head: AM-softmax with attribute control and speaker normalisation on fixed vectors."""

from __future__ import annotations

import numpy as np
import pytest

from training.encoder.head import HeadData, HeadOptions, head_outputs, train_head
from training.metrics import unweighted_accuracy

CLASSES = ("neutral", "happy", "angry", "sad")


def _speakers(count: int, seed: int, offset_scale: float, per_class: int = 10) -> HeadData:
    """Four emotions as directions in a 32-d space; each speaker adds its own offset."""
    rng = np.random.default_rng(seed)
    directions = np.random.default_rng(99).standard_normal((4, 32)) * 1.5
    rows, emotions, speakers = [], [], []
    for s in range(count):
        offset = rng.standard_normal(32) * offset_scale
        for emotion in range(4):
            rows.append(directions[emotion] + offset + rng.standard_normal((per_class, 32)))
            emotions += [emotion] * per_class
            speakers += [f"s{seed}-{s}"] * per_class
    x = np.concatenate(rows).astype(np.float32)
    gender = np.array([int(s.rsplit("-", 1)[1]) % 2 for s in speakers])
    return HeadData(x, np.array(emotions), speakers, {"gender": gender})


def test_a_head_learns_emotions_that_transfer_to_unseen_speakers():
    options = HeadOptions(epochs=30, hidden=64, embedding_dim=32)
    head, record = train_head(_speakers(6, 0, 1.0), _speakers(1, 1, 1.0), CLASSES, options)
    test = _speakers(2, 2, 1.0)
    logits, embedding = head_outputs(head, test.x, test.speakers)
    assert unweighted_accuracy(test.emotion, logits.argmax(axis=1)) > 0.9
    assert np.allclose(np.linalg.norm(embedding, axis=1), 1.0, atol=1e-5)
    assert len(record["best_epochs"]) == options.heads
    assert all(0 <= epoch < options.epochs for epoch in record["best_epochs"])
    assert record["validation_ua"] > 0.9


def test_an_ensemble_averages_heads_trained_from_consecutive_seeds():
    options = HeadOptions(epochs=5, hidden=16, embedding_dim=8, heads=3, seed=7)
    ensemble, record = train_head(_speakers(3, 0, 1.0), None, CLASSES, options)
    assert [head.options.seed for head in ensemble.heads] == [7, 8, 9]
    assert record["best_epochs"] == [4, 4, 4] and "validation_ua" not in record
    test = _speakers(1, 2, 1.0)
    logits, embedding = head_outputs(ensemble, test.x, test.speakers)
    alone = [head_outputs(head, test.x, test.speakers) for head in ensemble.heads]
    assert np.allclose(
        logits, np.mean([head_logits for head_logits, _ in alone], axis=0), atol=1e-5
    )
    assert not np.allclose(alone[0][0], alone[1][0])  # the seeds made different heads
    # One unit vector whose cosines are the mean of the heads' cosines.
    assert embedding.shape[1] == 3 * 8 == ensemble.embedding_dim
    assert np.allclose(np.linalg.norm(embedding, axis=1), 1.0, atol=1e-5)
    head_cosines = np.mean([e[0] @ e[1] for _, e in alone])
    assert embedding[0] @ embedding[1] == pytest.approx(head_cosines, abs=1e-5)


def test_an_ensemble_needs_a_head():
    with pytest.raises(ValueError, match="at least one head"):
        HeadOptions(heads=0)


def test_speaker_normalisation_removes_what_a_voice_adds_to_every_emotion():
    train, validation, test = _speakers(8, 3, 6.0), _speakers(1, 4, 6.0), _speakers(3, 5, 6.0)
    scores = {}
    for normalise in (True, False):
        options = HeadOptions(epochs=30, hidden=64, embedding_dim=32, speaker_normalise=normalise)
        head, _ = train_head(train, validation, CLASSES, options)
        logits, _ = head_outputs(head, test.x, test.speakers)
        scores[normalise] = unweighted_accuracy(test.emotion, logits.argmax(axis=1))
    assert scores[True] > 0.9
    assert scores[True] > scores[False] + 0.1


def test_head_options_refuse_a_field_they_do_not_have():
    assert HeadOptions.from_dict({"outputs": ["add_146"]}).outputs == ("add_146",)
    with pytest.raises(ValueError, match=r"unknown head option.*layers"):
        HeadOptions.from_dict({"layers": 3})
