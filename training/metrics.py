"""Emotion recognition metrics as the literature reports them, from scikit-learn.

WA (weighted accuracy) is plain accuracy; UA (unweighted accuracy) is the mean of
per-class recalls, which does not reward predicting the majority class.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix


def weighted_accuracy(true: Sequence[int], predicted: Sequence[int]) -> float:
    return float(accuracy_score(true, predicted))


def unweighted_accuracy(true: Sequence[int], predicted: Sequence[int]) -> float:
    """The mean recall over the classes `true` holds. A fold's speakers need not have
    every emotion, and a class without examples has no recall to average; scikit-learn
    warns when a prediction names one, which in a cross-validation is expected."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true", UserWarning)
        return float(balanced_accuracy_score(true, predicted))


def confusion(true: Sequence[int], predicted: Sequence[int], classes: int) -> np.ndarray:
    return confusion_matrix(true, predicted, labels=list(range(classes)))


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], path: Path, title: str) -> Path:
    """Row-normalised confusion matrix with counts, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    recall = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure, axes = plt.subplots(figsize=(1.2 * len(labels) + 2, 1.1 * len(labels) + 1.5))
    image = axes.imshow(recall, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            colour = "white" if recall[i, j] > 0.5 else "black"
            axes.text(
                j,
                i,
                f"{matrix[i, j]}\n{recall[i, j]:.0%}",
                ha="center",
                va="center",
                color=colour,
                fontsize=8,
            )
    figure.colorbar(image, ax=axes, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
