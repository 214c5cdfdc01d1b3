"""What can be checked on an adapted model without a single target label.

- **Label shares**: how the model spreads the target over the classes. A call
  centre's recordings are mostly calm; a model that calls half of them angry, or
  all of them one class, has adapted to something other than emotion.
- **Gate coverage**: the share of target utterances an energy gate calibrated on
  the source (threshold at `tpr` of the source utterances) accepts, i.e. how much
  of the target looks as familiar to the model as its own training speech.
  Source utterances were trained on, so the threshold is lenient.
- **Agreement**: the share of target utterances on which two models (two seeds, or
  the adapted and the source-only model) give the same label. Seeds that disagree
  on most utterances have not learned a stable rule for this target.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streamser.ood import energy

NEUTRAL = "neutral"
GATE_TPR = 0.95
"""Share of source utterances the source-calibrated gate accepts."""


def label_shares(logits: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    """Share of utterances whose highest score is each class (every class listed)."""
    predicted = np.asarray(logits).argmax(axis=1)
    counts = np.bincount(predicted, minlength=len(classes))
    return {c: float(n / max(len(predicted), 1)) for c, n in zip(classes, counts, strict=True)}


def gate_coverage(
    source_logits: np.ndarray, target_logits: np.ndarray, tpr: float = GATE_TPR
) -> tuple[float, np.ndarray]:
    """(coverage, accepted mask): the target share an energy gate accepts whose threshold
    accepts `tpr` of the source utterances."""
    threshold = float(np.quantile(energy(source_logits), 1.0 - tpr))
    accepted = energy(target_logits) >= threshold
    return float(accepted.mean()), accepted


def neutral_or_uncertain(
    logits: np.ndarray, accepted: np.ndarray, classes: Sequence[str]
) -> dict[str, float]:
    """Shares labelled neutral (of all), withheld as uncertain, and either of the two."""
    predicted = np.asarray(logits).argmax(axis=1)
    neutral = predicted == classes.index(NEUTRAL) if NEUTRAL in classes else np.zeros_like(accepted)
    return {
        "neutral": float(neutral.mean()),
        "uncertain": float((~accepted).mean()),
        "neutral_or_uncertain": float((neutral | ~accepted).mean()),
    }


def agreement(a_logits: np.ndarray, b_logits: np.ndarray) -> float:
    """Share of utterances on which two models' highest-scoring classes are the same."""
    a, b = np.asarray(a_logits), np.asarray(b_logits)
    if a.shape != b.shape:
        raise ValueError(f"agreement needs outputs on the same utterances ({a.shape} vs {b.shape})")
    return float((a.argmax(axis=1) == b.argmax(axis=1)).mean())


def label_free_summary(
    source_logits: np.ndarray, target_logits: np.ndarray, classes: Sequence[str]
) -> dict:
    """The checkpoint's `diagnostics`: label shares, gate coverage, neutral or uncertain."""
    coverage, accepted = gate_coverage(source_logits, target_logits)
    return {
        "target_label_shares": label_shares(target_logits, classes),
        "source_gate_coverage": coverage,
        **neutral_or_uncertain(target_logits, accepted, classes),
    }
