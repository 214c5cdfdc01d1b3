"""Out-of-distribution scores and the gate that applies a model's calibration.

Every score is "higher = more like the training data", as `streamser.metadata`
documents, so one comparison `score >= threshold` serves all methods. The score
functions are pure numpy functions of the model outputs and the calibration's
parameters, batch-first (`[..., classes]`, `[..., dim]` -> `[...]`): training
imports these same functions to calibrate, so runtime and calibration agree to
the last bit instead of approximately.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from streamser.errors import ModelError
from streamser.events import OodReport
from streamser.metadata import OOD_METHODS, OodCalibration, decode_array
from streamser.voicing import MIN_VOICED_SHARE, unvoiced, voiced_share

if TYPE_CHECKING:
    from streamser.model import Inference

QUANTILE_POINTS = 101
"""`id_quantiles` holds the 0th..100th percentiles: 101 values per method."""


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities, stable for large logits. `[..., classes]` -> `[..., classes]`."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def msp(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Maximum softmax probability (Hendrycks & Gimpel, 2017)."""
    return softmax(logits, temperature).max(axis=-1)


def max_logit(logits: np.ndarray) -> np.ndarray:
    """The largest logit (Hendrycks et al., 2022)."""
    return np.asarray(logits, dtype=np.float64).max(axis=-1)


def energy(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Negative free energy, T * logsumexp(logits / T) (Liu et al., 2020)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    top = z.max(axis=-1, keepdims=True)
    return temperature * (top[..., 0] + np.log(np.exp(z - top).sum(axis=-1)))


def mahalanobis(
    embedding: np.ndarray, class_means: np.ndarray, precision: np.ndarray
) -> np.ndarray:
    """Minus the smallest squared Mahalanobis distance to a class mean (Lee et al., 2018).

    Args:
        embedding: `[..., dim]`.
        class_means: `[classes, dim]`.
        precision: `[dim, dim]`, the inverse of the covariance shared by all classes.
    """
    x = np.asarray(embedding, dtype=np.float64)
    diff = x[..., None, :] - np.asarray(class_means, dtype=np.float64)  # [..., classes, dim]
    # A matrix product, then a row-wise dot: the same sum as an einsum over both
    # indices, but through BLAS (a 768-d gate costs well under a millisecond).
    distance = ((diff @ np.asarray(precision, np.float64)) * diff).sum(axis=-1)
    return -distance.min(axis=-1)


def knn(embedding: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Minus the Euclidean distance to the k-th nearest reference embedding (Sun et al., 2022).

    Embeddings are L2-normalised by the model; the reference set is normalised here
    too, so the distance is a monotone function of cosine similarity.

    Args:
        embedding: `[..., dim]`.
        reference: `[n, dim]` held-out in-distribution embeddings, n >= k.
        k: Which neighbour.
    """
    x = _normalised(np.asarray(embedding, dtype=np.float64))
    ref = _normalised(np.asarray(reference, dtype=np.float64))
    if not 1 <= k <= len(ref):
        raise ValueError(f"knn: k={k} needs 1..{len(ref)} reference embeddings")
    squared = np.clip(2.0 - 2.0 * (x @ ref.T), 0.0, None)  # [..., n]
    kth = np.partition(squared, k - 1, axis=-1)[..., k - 1]
    return -np.sqrt(kth)


def ood_score(
    method: str, logits: np.ndarray, embedding: np.ndarray, calibration: OodCalibration
) -> np.ndarray:
    """The score of `method` with the parameters `calibration` carries.

    Converts the parameters on every call; the runtime gate prepares them once.
    """
    return _scorer(method, calibration)(logits, embedding)


def threshold_for_tpr(quantiles: Sequence[float], tpr: float) -> float:
    """The score that accepts a share `tpr` of in-distribution utterances.

    `quantiles` are the 0th..100th percentiles of held-out in-distribution scores;
    the threshold is their (1 - tpr) quantile, linearly interpolated.
    """
    if len(quantiles) != QUANTILE_POINTS:
        raise ValueError(f"expected {QUANTILE_POINTS} percentiles, got {len(quantiles)}")
    if not 0 < tpr <= 1:
        raise ValueError(f"true-positive rate {tpr} is outside (0, 1]")
    grid = np.linspace(0.0, 1.0, QUANTILE_POINTS)
    return float(np.interp(1.0 - tpr, grid, np.asarray(quantiles, dtype=np.float64)))


@dataclass(frozen=True)
class OodOptions:
    """Runtime overrides of the calibration written at export.

    Attributes:
        method: Score method; None keeps the model's.
        tpr: Target share of in-distribution utterances accepted; None keeps the
            model's threshold. Either override takes the threshold from the
            model's `id_quantiles`, so the model must carry them for that method.
        min_voiced_share: The share of an utterance's loud frames that must be
            voiced (`streamser.voicing`) for it to count as speech; 0 turns the
            test off. It holds for every model, so it is an option, not calibration.
    """

    method: str | None = None
    tpr: float | None = None
    min_voiced_share: float = MIN_VOICED_SHARE

    def __post_init__(self) -> None:
        if self.method is not None and self.method not in OOD_METHODS:
            raise ValueError(
                f"unknown OOD method {self.method!r} (accepted: {', '.join(OOD_METHODS)})"
            )
        if self.tpr is not None and not 0 < self.tpr <= 1:
            raise ValueError(f"OOD true-positive rate {self.tpr} is outside (0, 1]")
        if not 0 <= self.min_voiced_share <= 1:
            raise ValueError(f"minimum voiced share {self.min_voiced_share} is outside [0, 1]")


@dataclass(frozen=True)
class OodDecision:
    """Attributes:
    method: The score method applied.
    score: This utterance's score.
    threshold: Scores below it are out of distribution.
    voiced_share: The share of its loud frames that are voiced; None when the
        decision did not look at the audio.
    min_voiced_share: Less is not speech (0: the test is off).
    accepted: `score >= threshold`, and the utterance is voiced enough.
    """

    method: str
    score: float
    threshold: float
    accepted: bool
    voiced_share: float | None = None
    min_voiced_share: float = 0.0

    @property
    def not_voiced(self) -> bool:
        """The voicing test ran and failed: the utterance is not speech, whatever its score."""
        return unvoiced(self.voiced_share, self.min_voiced_share)

    def report(self) -> OodReport:
        """What an utterance event says of this decision."""
        return OodReport(
            self.method, self.score, self.threshold, self.voiced_share, self.min_voiced_share
        )


class OodGate:
    """Applies one calibration to one utterance at a time; immutable and thread-safe.

    Two tests, both needed: the model's score says the utterance looks like what the
    model was trained on, the voicing test that it is speech at all (a model's
    features can place modulated noise among voices).
    """

    def __init__(self, calibration: OodCalibration, options: OodOptions = OodOptions()) -> None:
        """Raises:
        ModelError: An override asks for a method or TPR the model was not calibrated for.
        """
        self.method = options.method or calibration.method
        self.tpr = options.tpr if options.tpr is not None else calibration.tpr
        if self.method == calibration.method and options.tpr is None:
            self.threshold = float(calibration.threshold)
        else:
            quantiles = calibration.id_quantiles.get(self.method)
            if quantiles is None:
                known = ", ".join(sorted(calibration.id_quantiles)) or "none"
                raise ModelError(
                    f"the model has no in-distribution quantiles for OOD method {self.method!r} "
                    f"(it has: {known}); drop --ood-method/--ood-tpr or recalibrate"
                )
            try:
                self.threshold = threshold_for_tpr(quantiles, self.tpr)
            except ValueError as error:
                raise ModelError(f"OOD quantiles for {self.method!r}: {error}") from None
        self._score = _scorer(self.method, calibration)
        self.vector = calibration.vector
        self.min_voiced_share = options.min_voiced_share

    def decide(
        self, logits: np.ndarray, embedding: np.ndarray, samples: np.ndarray | None = None
    ) -> OodDecision:
        """One utterance's `[classes]` logits and `[dim]` embedding -> its decision.

        `embedding` is the model output named by `self.vector` (the calibration's).
        `samples`, the utterance itself (float, 16 kHz), add the voicing test; without
        them the decision is the score's alone, as in calibration, which has vectors."""
        score = float(self._score(logits, embedding))
        if not np.isfinite(score):
            score = float("-inf")  # a broken output is never "in distribution"
        voiced = None
        if samples is not None and self.min_voiced_share > 0:
            voiced = voiced_share(samples)
        accepted = score >= self.threshold and not unvoiced(voiced, self.min_voiced_share)
        return OodDecision(
            self.method, score, self.threshold, accepted, voiced, self.min_voiced_share
        )

    def judge(self, inference: Inference, samples: np.ndarray) -> OodDecision:
        """`decide` on a model's outputs, with the vector the calibration names, and
        on `samples`, the audio the model heard."""
        vector = inference.vector(self.vector)
        if vector is None:
            raise ModelError(f"the gate reads {self.vector!r}, which this model does not output")
        return self.decide(inference.logits, vector, samples)

    def describe(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "threshold": self.threshold,
            "tpr": self.tpr,
            "min_voiced_share": self.min_voiced_share,
        }


def _scorer(method: str, calibration: OodCalibration):
    """A function (logits, embedding) -> score with the method's parameters prepared once."""
    temperature = float(calibration.temperature)
    params = calibration.params
    if method == "msp":
        return lambda logits, _embedding: msp(logits, temperature)
    if method == "max_logit":
        return lambda logits, _embedding: max_logit(logits)
    if method == "energy":
        return lambda logits, _embedding: energy(logits, temperature)
    if method == "mahalanobis":
        means = _param_array(params, "class_means", method, ndim=2)
        precision = _param_array(params, "precision", method, ndim=2)
        if precision.shape != (means.shape[1], means.shape[1]):
            raise ModelError(
                f"OOD 'mahalanobis': precision is {precision.shape}, expected "
                f"{(means.shape[1], means.shape[1])} for {means.shape[1]}-d class means"
            )
        return lambda _logits, embedding: mahalanobis(embedding, means, precision)
    if method == "knn":
        reference = _normalised(_param_array(params, "reference", method, ndim=2))
        k = int(params.get("k", 1))
        if not 1 <= k <= len(reference):
            raise ModelError(f"OOD 'knn': k={k} needs 1..{len(reference)} reference embeddings")
        return lambda _logits, embedding: knn(embedding, reference, k)
    raise ModelError(f"unknown OOD method {method!r} (known: {', '.join(OOD_METHODS)})")


def _param_array(params: dict[str, Any], key: str, method: str, ndim: int) -> np.ndarray:
    if key not in params:
        raise ModelError(f"OOD {method!r} needs ood.params[{key!r}], which the model lacks")
    try:
        value = decode_array(params[key])
    except ValueError as error:
        raise ModelError(f"OOD {method!r}: ood.params[{key!r}]: {error}") from None
    if value.ndim != ndim or value.size == 0:
        raise ModelError(f"OOD {method!r}: ood.params[{key!r}] must be a non-empty {ndim}-d array")
    return value


def _normalised(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
