"""The bundled models by name, and what their evaluation files say about them.

Two tiers share one contract (`streamser.model`): `fast`, the small CNN every entry
point uses by default, and `accurate`, a pretrained speech encoder under a trained
head, about ten times the cost per utterance. Each ships with a card and an
evaluation file its recipe wrote (`bin/make-default-model`, `bin/make-accurate-model`);
`headline` reads the numbers `streamser models` shows from either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BundledModel:
    """Attributes:
    name: What `--model` takes.
    file: The model file in the bundled models folder.
    evaluation: Its recipe's evaluation file, beside it.
    card: Its model card, beside it.
    about: One line on what it is.
    """

    name: str
    file: str
    evaluation: str
    card: str
    about: str


BUNDLED_MODELS: tuple[BundledModel, ...] = (
    BundledModel(
        "fast",
        "default.onnx",
        "default-evaluation.json",
        "MODEL_CARD.md",
        "MSAC-SERNet, a 1 M-parameter CNN on log-mel features (the default)",
    ),
    BundledModel(
        "accurate",
        "accurate.onnx",
        "accurate-evaluation.json",
        "ACCURATE_MODEL_CARD.md",
        "a pretrained Whisper-tiny encoder (Smart Turn v3.2, int8) under an AM-softmax head",
    ),
)
DEFAULT_MODEL_NAME = "fast"
MODEL_NAMES = tuple(m.name for m in BUNDLED_MODELS)


def bundled(name: str) -> BundledModel | None:
    return next((m for m in BUNDLED_MODELS if m.name == name), None)


def headline(evaluation: dict[str, Any]) -> dict[str, float | None]:
    """A model's headline numbers from its evaluation file: EmoDB leave-one-speaker-out
    UA over 4 classes (wideband, telephone) and 7 classes, of the row that ships, and
    the UA on EmoDB of the same recipe trained on synthetic speech only."""
    row = evaluation.get("shipped", {}).get("variant")

    def ua(report: str, channel: str) -> float | None:
        summaries = evaluation.get("crossval", {}).get(report, {}).get("summaries", [])
        found = [s["ua_mean"] for s in summaries if (s["row"], s["channel"]) == (row, channel)]
        return found[0] if found else None

    def synthetic(channel: str) -> float | None:
        result = evaluation.get("cross_domain", {}).get("synthemo-only -> emodb", {})
        return result.get(channel, {}).get("unweighted_accuracy")

    return {
        "loso_wideband": ua("4-class", "wideband"),
        "loso_telephone": ua("4-class", "telephone"),
        "loso_7_class": ua("7-class", "wideband"),
        "synthetic_wideband": synthetic("wideband"),
        "synthetic_telephone": synthetic("telephone"),
    }
