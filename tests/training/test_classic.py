"""The classic reference classifier on synthetic features: held-out speakers, speaker offsets."""

import numpy as np
import pytest

from training.classic import C_GRIDS, ClassicClassifier, ClassicOptions

DIM = 12


def corpus(speakers, per_class, signal, offset_scale, seed, prefix="s"):
    """Two classes apart by `signal` on every dimension, each speaker shifted by its own offset."""
    rng = np.random.default_rng(seed)
    features, labels, names = [], [], []
    for s in range(speakers):
        offset = offset_scale * rng.standard_normal(DIM)
        for label in (0, 1):
            centre = offset + (signal if label else -signal)
            features.append(centre + 0.3 * rng.standard_normal((per_class, DIM)))
            labels += [label] * per_class
            names += [f"{prefix}{s}"] * per_class
    return np.vstack(features), np.array(labels), np.array(names)


def accuracy(options, train, test):
    classifier = ClassicClassifier(options).fit(*train)
    features, labels, speakers = test
    predicted = classifier.predict(features, speakers)
    assert predicted.shape == labels.shape
    return np.mean(predicted == labels)


@pytest.mark.parametrize("kind", ["svm", "logreg"])
def test_separates_two_clear_classes_on_held_out_speakers(kind):
    train = corpus(6, 8, signal=1.0, offset_scale=0.0, seed=0)
    test = corpus(3, 8, signal=1.0, offset_scale=0.0, seed=1, prefix="new")
    assert accuracy(ClassicOptions(kind=kind), train, test) >= 0.95


@pytest.mark.parametrize("kind", ["svm", "logreg"])
def test_speaker_normalisation_removes_a_large_per_speaker_offset(kind):
    # The class signal (0.3 per dimension) is small next to each speaker's offset (std 10):
    # a new speaker's offset moves all its utterances across the boundary at once.
    train = corpus(8, 8, signal=0.3, offset_scale=10.0, seed=2)
    test = corpus(6, 8, signal=0.3, offset_scale=10.0, seed=3, prefix="new")
    assert accuracy(ClassicOptions(kind=kind, speaker_normalise=True), train, test) >= 0.95
    assert accuracy(ClassicOptions(kind=kind, speaker_normalise=False), train, test) <= 0.75


def test_an_unseen_speaker_with_one_utterance_falls_back_to_population_statistics():
    train = corpus(6, 8, signal=1.0, offset_scale=0.0, seed=4)
    features, labels, _ = corpus(1, 10, signal=1.0, offset_scale=0.0, seed=5)
    # Twenty new speakers with one utterance each: z-scoring one utterance by its own
    # statistics would erase it, and every prediction would be the same class.
    speakers = np.array([f"single{i}" for i in range(len(labels))])
    classifier = ClassicClassifier(ClassicOptions(kind="logreg")).fit(*train)
    assert classifier.predict(features[:1], speakers[:1]).shape == (1,)
    assert np.mean(classifier.predict(features, speakers) == labels) >= 0.9


def test_c_is_searched_with_enough_speakers_and_fixed_without():
    searched = ClassicClassifier(ClassicOptions(kind="logreg")).fit(*corpus(4, 6, 1.0, 0.0, seed=6))
    assert searched.c in C_GRIDS["logreg"]
    fixed = ClassicClassifier(ClassicOptions(kind="svm", default_c=3.0)).fit(
        *corpus(2, 6, 1.0, 0.0, seed=7)
    )
    assert fixed.c == 3.0
    custom = ClassicClassifier(ClassicOptions(kernel="linear", c_grid=(0.5,))).fit(
        *corpus(4, 6, 1.0, 0.0, seed=8)
    )
    assert custom.c == 0.5


def test_predict_before_fit_and_unknown_kinds_are_errors():
    with pytest.raises(RuntimeError, match="before fit"):
        ClassicClassifier().predict(np.zeros((1, DIM)), ["a"])
    with pytest.raises(ValueError, match="kind"):
        ClassicOptions(kind="forest")
    with pytest.raises(ValueError, match="kernel"):
        ClassicOptions(kernel="poly")
