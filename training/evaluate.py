"""Evaluate a checkpoint or an exported ONNX model on labelled data: WA, UA, confusions."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.corpora import Utterance
from training.data import AudioCache
from training.metrics import confusion, plot_confusion, unweighted_accuracy, weighted_accuracy
from training.predict import EmotionPredictor, speakers_of


@dataclass(frozen=True)
class Evaluation:
    labels: tuple[str, ...]
    utterances: int
    weighted_accuracy: float
    unweighted_accuracy: float
    recall: dict[str, float]
    confusion: list[list[int]]

    def to_dict(self) -> dict:
        return self.__dict__ | {"labels": list(self.labels)}

    @classmethod
    def from_dict(cls, data: dict) -> Evaluation:
        return cls(**(data | {"labels": tuple(data["labels"])}))


def evaluate(
    predictor: EmotionPredictor,
    utterances: Sequence[Utterance],
    channel: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None,
) -> Evaluation:
    """Scores `utterances` of the predictor's classes; `channel` alters their int16
    audio first (training.crossval.through_telephone, say)."""
    labels = predictor.labels
    kept = [u for u in utterances if u.emotion in labels]
    audio = AudioCache(kept).audio
    logits, _ = predictor.predict(channel(audio) if channel else audio, speakers_of(kept))
    true = np.array([labels.index(u.emotion) for u in kept])
    predicted = logits.argmax(axis=1)
    matrix = confusion(true, predicted, len(labels))
    recall = matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1)
    return Evaluation(
        labels=labels,
        utterances=len(kept),
        weighted_accuracy=weighted_accuracy(true, predicted),
        unweighted_accuracy=unweighted_accuracy(true, predicted),
        recall={label: float(r) for label, r in zip(labels, recall, strict=True)},
        confusion=matrix.tolist(),
    )


def write_report(evaluation: Evaluation, json_path: Path, title: str) -> Path:
    """JSON next to a confusion-matrix PNG of the same stem; returns the PNG path."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(evaluation.to_dict(), indent=1))
    return plot_confusion(
        np.array(evaluation.confusion), evaluation.labels, json_path.with_suffix(".png"), title
    )


def print_evaluation(evaluation: Evaluation, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("class")
    table.add_column("recall", justify="right")
    table.add_column("n", justify="right")
    for label, row in zip(evaluation.labels, evaluation.confusion, strict=True):
        table.add_row(label, f"{evaluation.recall[label]:.3f}", str(sum(row)))
    table.add_section()
    table.add_row("WA", f"{evaluation.weighted_accuracy:.3f}", str(evaluation.utterances))
    table.add_row("UA", f"{evaluation.unweighted_accuracy:.3f}", "")
    Console().print(table)
