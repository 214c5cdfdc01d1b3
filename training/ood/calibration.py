"""OOD calibration at export: score parameters from training embeddings, thresholds
from held-out in-distribution utterances.

Scores come from `streamser.ood`, the functions the runtime gate applies, so the
threshold written here means exactly the same thing at run time.
"""

from __future__ import annotations

import numpy as np

from streamser.metadata import OodCalibration, encode_array
from streamser.ood import QUANTILE_POINTS, ood_score, threshold_for_tpr

LOGIT_METHODS = ("energy", "msp", "max_logit")
EMBEDDING_METHODS = ("mahalanobis", "knn")
KNN_REFERENCE_SIZE = 512
KNN_K = 5
COVARIANCE_SHRINKAGE = 0.05
SPEECH_CLUSTERS = 8
"""Centres fitted to unlabelled speech (`embedding_params(speech=...)`); 4 to 16 gave
the same acceptance of held-out voices for the accurate tier."""


def id_quantiles(scores: np.ndarray) -> list[float]:
    """The 0th..100th percentiles of in-distribution scores."""
    return [float(q) for q in np.quantile(scores, np.linspace(0, 1, QUANTILE_POINTS))]


FLOAT16_LIMIT = 60000.0
"""Precision matrices with larger entries are kept in float32 (float16 ends at 65504)."""


def embedding_params(
    embeddings: np.ndarray,
    labels: np.ndarray,
    classes: int,
    seed: int = 0,
    precision_dtype: str = "float32",
    speech: np.ndarray | None = None,
) -> dict:
    """What Mahalanobis and KNN need, from in-distribution training embeddings.

    Mahalanobis: class means and the precision of the covariance shared by all
    classes (Lee et al. 2018), shrunk towards a scaled identity so that it stays
    invertible with fewer utterances than dimensions. KNN: a seeded subsample of
    the embeddings, stored as float16 (Sun et al. 2022 use the full training set;
    a few hundred keep the model file small and the lookup fast).

    `precision_dtype="float16"` halves the precision matrix's share of the file, which
    matters for wide vectors (768-d: 2.4 MB in float32); scores are computed from
    the stored values at calibration as at run time, so the threshold still means
    what it says.

    `speech`: vectors of unlabelled real speech the labelled data does not cover (other
    voices, languages, recording chains). Their k-means centres (SPEECH_CLUSTERS) join
    the class means and their spread around them the shared covariance, so the gate
    learns that such speech is speech without anyone labelling it, and still refuses
    what is not speech. Without them a gate fitted on a few corpora calls most voices
    unlike those corpora out of distribution.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    means = np.stack([x[labels == c].mean(axis=0) for c in range(classes)])
    centred = x - means[labels]
    if speech is not None and len(speech):
        from sklearn.cluster import KMeans

        speech = np.asarray(speech, dtype=np.float64)
        clusters = KMeans(min(SPEECH_CLUSTERS, len(speech)), n_init=4, random_state=seed)
        clusters.fit(speech)
        means = np.concatenate([means, clusters.cluster_centers_])
        centred = np.concatenate([centred, speech - clusters.cluster_centers_[clusters.labels_]])
        x = np.concatenate([x, speech])
    covariance = centred.T @ centred / len(x)
    target = np.trace(covariance) / len(covariance) * np.eye(len(covariance))
    shrunk = (1 - COVARIANCE_SHRINKAGE) * covariance + COVARIANCE_SHRINKAGE * target
    precision = np.linalg.inv(shrunk)
    precision = (precision + precision.T) / 2  # exactly symmetric, so half of it is stored
    fits = np.abs(precision).max() < FLOAT16_LIMIT
    dtype = "float16" if precision_dtype == "float16" and fits else "float32"
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x), size=min(KNN_REFERENCE_SIZE, len(x)), replace=False)
    return {
        "class_means": encode_array(means),
        "precision": encode_array(precision, dtype, symmetric=True),
        "reference": encode_array(x[np.sort(pick)], "float16"),
        "k": min(KNN_K, len(pick)),
    }


def calibrate(
    logits: np.ndarray,
    embeddings: np.ndarray,
    method: str = "energy",
    tpr: float = 0.95,
    temperature: float = 1.0,
    params: dict | None = None,
    vector: str = "embedding",
) -> OodCalibration:
    """A calibration for `method` at `tpr`, with quantiles for every method it can serve.

    Args:
        logits, embeddings: Model outputs on held-out in-distribution utterances.
        method: The method the runtime applies by default.
        tpr: Share of in-distribution utterances the threshold accepts.
        temperature: For msp and energy.
        params: `embedding_params(...)`; without them only logit methods are calibrated.
        vector: The model output `embeddings` holds (`streamser.metadata.OOD_VECTORS`).
    """
    params = params or {}
    methods = LOGIT_METHODS + (EMBEDDING_METHODS if params else ())
    if method not in methods:
        raise ValueError(f"cannot calibrate {method!r} without embedding parameters")
    base = OodCalibration(
        method=method,
        threshold=0.0,
        tpr=tpr,
        temperature=temperature,
        params=params,
        vector=vector,
    )
    quantiles = {name: id_quantiles(ood_score(name, logits, embeddings, base)) for name in methods}
    return OodCalibration(
        method=method,
        threshold=threshold_for_tpr(quantiles[method], tpr),
        tpr=tpr,
        temperature=temperature,
        params=params,
        id_quantiles=quantiles,
        vector=vector,
    )
