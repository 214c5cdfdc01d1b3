"""OOD calibration at export: thresholds from held-out in-distribution utterances.

Scores come from `streamser.ood`, the functions the runtime gate applies, so the
threshold written here means exactly the same thing at run time.
"""

from __future__ import annotations

import numpy as np

from streamser.metadata import OodCalibration
from streamser.ood import QUANTILE_POINTS, ood_score, threshold_for_tpr

LOGIT_METHODS = ("energy", "msp", "max_logit")


def id_quantiles(scores: np.ndarray) -> list[float]:
    """The 0th..100th percentiles of in-distribution scores."""
    return [float(q) for q in np.quantile(scores, np.linspace(0, 1, QUANTILE_POINTS))]


def calibrate(
    logits: np.ndarray,
    embeddings: np.ndarray,
    method: str = "energy",
    tpr: float = 0.95,
    temperature: float = 1.0,
    methods: tuple[str, ...] = LOGIT_METHODS,
) -> OodCalibration:
    """A calibration for `method` at `tpr`, with quantiles for every method in `methods`.

    Args:
        logits, embeddings: Model outputs on held-out in-distribution utterances.
        method: The method the runtime applies by default.
        tpr: Share of in-distribution utterances the threshold accepts.
        temperature: For msp and energy.
        methods: Methods the runtime may switch to (`--ood-method`); each gets quantiles.
    """
    base = OodCalibration(method=method, threshold=0.0, tpr=tpr, temperature=temperature)
    quantiles = {
        name: id_quantiles(ood_score(name, logits, embeddings, base))
        for name in dict.fromkeys((method, *methods))
    }
    return OodCalibration(
        method=method,
        threshold=threshold_for_tpr(quantiles[method], tpr),
        tpr=tpr,
        temperature=temperature,
        id_quantiles=quantiles,
    )
