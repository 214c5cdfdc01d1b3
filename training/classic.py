"""The classic reference row: eGeMAPS functionals with a scikit-learn classifier.

A CNN's number means little without what a hand-crafted baseline reaches under the
same protocol. eGeMAPS with an SVM is that baseline in the literature: published
EmoDB leave-one-speaker-out results are about 80-85 % UA for 7 classes, with
openSMILE's features; here they come from a re-implementation (`training.egemaps`),
so expect the same range rather than the same digits.

Each speaker's utterances are z-normalised with that speaker's own statistics, as
those results do: it removes voice and recording differences that emotion is small
next to. At test time it uses the held-out speaker's unlabelled utterances, never a
label. C is chosen by speaker-grouped cross-validation on the training data only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

KINDS = ("svm", "logreg")
KERNELS = ("rbf", "linear")
C_GRIDS = {"logreg": (0.01, 0.1, 1.0, 10.0), "svm": (0.1, 1.0, 10.0)}
MIN_SEARCH_SPEAKERS = 3
"""Fewer training speakers than this leave no meaningful grouped split: C stays fixed."""


@dataclass(frozen=True)
class ClassicOptions:
    """How the reference classifier is built.

    Attributes:
        kind: "svm" or "logreg".
        speaker_normalise: z-normalise each speaker's utterances with its own statistics.
        kernel: The SVM's kernel, "rbf" or "linear".
        c_grid: Values of C to search; None for the kind's default grid (`C_GRIDS`).
        default_c: C when there are too few training speakers to search.
        inner_folds: Speaker-grouped folds of the search (fewer with fewer speakers).
        max_iter: Iteration limit of logistic regression.
    """

    kind: str = "svm"
    speaker_normalise: bool = True
    kernel: str = "rbf"
    c_grid: tuple[float, ...] | None = None
    default_c: float = 1.0
    inner_folds: int = 5
    max_iter: int = 5000

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel {self.kernel!r} is not one of {', '.join(KERNELS)}")


class ClassicClassifier:
    """Speaker normalisation, standard scaling and a class-balanced classifier.

    Attributes (after `fit`):
        c: The C used, chosen by the inner search or `default_c`.
        model: The fitted scaler + classifier pipeline.
    """

    def __init__(self, options: ClassicOptions | None = None) -> None:
        self.options = options or ClassicOptions()
        self.c: float | None = None
        self.model: Pipeline | None = None
        self._population: tuple[np.ndarray, np.ndarray] | None = None

    def fit(
        self, features: np.ndarray, labels: Sequence[int], speakers: Sequence[str]
    ) -> ClassicClassifier:
        """Fit on training utterances, choosing C by speaker-grouped cross-validation.

        Args:
            features: [n, d] per-utterance features.
            labels: Class index of each utterance.
            speakers: Speaker of each utterance; the groups of the inner folds.
        """
        x = np.asarray(features, dtype=np.float64)
        y, groups = np.asarray(labels), np.asarray(speakers)
        self._population = (x.mean(axis=0), _safe_std(x))
        x = self._normalise(x, groups)
        pipeline = Pipeline([("scale", StandardScaler()), ("model", self._estimator())])
        options = self.options
        n_speakers = len(np.unique(groups))
        if n_speakers < MIN_SEARCH_SPEAKERS:
            self.c = options.default_c
            self.model = pipeline.set_params(model__C=self.c).fit(x, y)
            return self
        # Speaker normalisation above uses no label and only each speaker's own rows,
        # so doing it once before the grouped split leaks nothing into the inner folds.
        search = GridSearchCV(
            pipeline,
            {"model__C": list(options.c_grid or C_GRIDS[options.kind])},
            scoring="balanced_accuracy",
            cv=GroupKFold(n_splits=min(options.inner_folds, n_speakers)),
        )
        search.fit(x, y, groups=groups)
        self.c = float(search.best_params_["model__C"])
        self.model = search.best_estimator_
        return self

    def predict(self, features: np.ndarray, speakers: Sequence[str]) -> np.ndarray:
        """Class indices for utterances of possibly unseen speakers.

        Each test speaker is normalised with the statistics of its own utterances
        given here, so pass all of a speaker's utterances in one call.
        """
        if self.model is None:
            raise RuntimeError("ClassicClassifier.predict called before fit")
        x = self._normalise(np.asarray(features, dtype=np.float64), np.asarray(speakers))
        return self.model.predict(x)

    def _estimator(self) -> ClassifierMixin:
        if self.options.kind == "logreg":
            return LogisticRegression(max_iter=self.options.max_iter, class_weight="balanced")
        return SVC(kernel=self.options.kernel, class_weight="balanced")

    def _normalise(self, x: np.ndarray, speakers: np.ndarray) -> np.ndarray:
        """Per-speaker z-scores; one-utterance speakers get the training population's."""
        if not self.options.speaker_normalise:
            return x
        assert self._population is not None
        out = np.empty_like(x)
        for speaker in np.unique(speakers):
            rows = speakers == speaker
            if rows.sum() > 1:
                mean, std = x[rows].mean(axis=0), _safe_std(x[rows])
            else:
                mean, std = self._population
            out[rows] = (x[rows] - mean) / std
        return out


def _safe_std(x: np.ndarray) -> np.ndarray:
    """Column standard deviations, 1 where a column is constant (it then just centres)."""
    std = x.std(axis=0)
    return np.where(std > 1e-12, std, 1.0)
