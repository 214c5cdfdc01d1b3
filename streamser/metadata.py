"""The model file's self-description: `metadata_props["streamser"]`.

Training writes it at export; the runtime reads and validates it at load. One
definition here keeps the two halves from disagreeing about a field.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import numbers
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from streamser.errors import ModelError

METADATA_KEY = "streamser"
SCHEMA = "streamser.model/1"
SUPPORTED_SCHEMAS = (SCHEMA,)

OOD_METHODS = ("msp", "max_logit", "energy", "mahalanobis", "knn")
"""Score methods the runtime gate can apply (see streamser.ood)."""
OOD_VECTORS = ("embedding", "features", "gate_features")
"""Model outputs the embedding methods can read, by output name (`streamser.model`)."""

MAX_INPUT_SECONDS = 600.0
"""The longest input a model may ask for (`max_seconds`): ten minutes is no utterance."""


def _shown(value: Any) -> str:
    if isinstance(value, int) and abs(value) > 10**30:
        return "an integer of more than 30 digits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _finite(field: str, value: Any) -> float:
    """`value` as a float, or a ModelError naming `field` (bools, strings, NaN, inf refused)."""
    number = math.nan
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # an integer beyond any float
            number = float(value)
    if not math.isfinite(number):
        raise ModelError(f"metadata '{field}' must be a finite number, not {_shown(value)}")
    return number


def _integer(field: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise ModelError(f"metadata '{field}' must be an integer >= {least}, not {_shown(value)}")
    return int(value)


def _object(field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ModelError(f"metadata '{field}' must be a JSON object, not {_shown(value)}")
    return value


def encode_array(
    array: np.ndarray, dtype: str = "float32", symmetric: bool = False
) -> dict[str, Any]:
    """A compact JSON form of an array for `ood.params` (a KNN reference set of a few
    hundred embeddings is ~5x smaller as float16 base64 than as a list of numbers).

    `symmetric` keeps only the upper triangle of a square matrix (`"layout": "upper"`),
    which halves a precision matrix: the accurate model's 768 x 768 one is most of its
    metadata."""
    data = np.asarray(array)
    extra: dict[str, Any] = {}
    if symmetric:
        if data.ndim != 2 or data.shape[0] != data.shape[1]:
            raise ValueError(f"a symmetric array must be square, not {data.shape}")
        shape = list(data.shape)
        data = data[np.triu_indices(len(data))]
        extra["layout"] = "upper"
    else:
        shape = list(data.shape)
    data = np.ascontiguousarray(data, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": dtype, "shape": shape, **extra, "base64": base64.b64encode(data).decode()}


def decode_array(value: Any) -> np.ndarray:
    """The inverse of `encode_array`; plain nested lists are accepted too.

    Raises:
        ValueError: A malformed encoded array.
    """
    if isinstance(value, dict) and "base64" in value:
        try:
            dtype = np.dtype(value["dtype"]).newbyteorder("<")
            flat = np.frombuffer(base64.b64decode(value["base64"], validate=True), dtype=dtype)
            layout = value.get("layout", "dense")
            if layout == "dense":
                return flat.reshape(value["shape"]).astype(np.float64)
            if layout == "upper":
                return _from_upper_triangle(flat, value["shape"])
            raise ValueError(f"unknown layout {_shown(layout)}")
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"malformed encoded array ({error})") from None
    return np.asarray(value, dtype=np.float64)


def _from_upper_triangle(flat: np.ndarray, shape: Any) -> np.ndarray:
    if not (isinstance(shape, list) and len(shape) == 2 and shape[0] == shape[1]):
        raise ValueError(f"an upper triangle needs a square shape, not {_shown(shape)}")
    size = int(shape[0])
    if size < 0 or len(flat) != size * (size + 1) // 2:
        raise ValueError(f"{len(flat)} values do not fill the upper triangle of {size} x {size}")
    matrix = np.zeros((size, size))
    matrix[np.triu_indices(size)] = flat
    return matrix + np.triu(matrix, 1).T


@dataclass(frozen=True)
class OodCalibration:
    """How to tell in-distribution utterances from the rest, fixed at export time.

    Every method yields a score where higher means "more like the training data";
    an utterance whose score is below `threshold` is `uncertain`.

    Attributes:
        method: One of OOD_METHODS.
        threshold: Scores below it are out of distribution.
        tpr: Share of held-out in-distribution utterances accepted at `threshold`.
        temperature: Softmax/energy temperature (msp, energy).
        params: What the method needs beyond logits and embedding: class means and
            a precision matrix (mahalanobis), a reference set and k (knn).
        id_quantiles: Per method, the 0th..100th percentiles of the held-out
            in-distribution scores, so the runtime can switch method or target TPR
            (`--ood-method`, `--ood-tpr`) without recalibrating: the threshold for a
            TPR t is the (1 - t) quantile.
        direction: Always "lower_is_ood"; kept explicit for readers of the file.
        vector: The model output the embedding methods (mahalanobis, knn) read:
            "embedding", "features" (a speaker-normalised model's pooled features
            before normalisation, which normalisation has not pulled towards the
            training data) or "gate_features" (features the model outputs for its
            gate alone, when other encoder layers tell speech from other sounds
            better than those its head reads).
    """

    method: str
    threshold: float
    tpr: float
    temperature: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)
    id_quantiles: dict[str, list[float]] = field(default_factory=dict)
    direction: str = "lower_is_ood"
    vector: str = "embedding"

    def __post_init__(self) -> None:
        if self.vector not in OOD_VECTORS:
            raise ModelError(
                f"OOD vector {_shown(self.vector)}: expected one of {', '.join(OOD_VECTORS)}"
            )
        if not isinstance(self.method, str) or self.method not in OOD_METHODS:
            raise ModelError(
                f"unknown OOD method {_shown(self.method)} (known: {', '.join(OOD_METHODS)})"
            )
        _finite("ood.threshold", self.threshold)
        if not 0 < _finite("ood.tpr", self.tpr) <= 1:
            raise ModelError(f"OOD true-positive rate {self.tpr} is outside (0, 1]")
        if _finite("ood.temperature", self.temperature) <= 0:
            raise ModelError(f"metadata 'ood.temperature' must be positive, not {self.temperature}")
        if self.direction != "lower_is_ood":
            raise ModelError(
                f"metadata 'ood.direction' must be lower_is_ood, not {_shown(self.direction)}"
            )
        _object("ood.params", self.params)
        for method, quantiles in _object("ood.id_quantiles", self.id_quantiles).items():
            field = f"ood.id_quantiles.{method}"
            try:
                values = np.asarray(quantiles, dtype=np.float64)
            except (TypeError, ValueError):
                values = np.array([np.nan])
            if values.ndim != 1 or not np.all(np.isfinite(values)):
                raise ModelError(f"metadata '{field}' must be a list of finite numbers")


@dataclass(frozen=True)
class SpeakerNormalisationInfo:
    """How a speaker-normalised model wants its per-stream statistics kept.

    Attributes:
        feature_dim: Size of the `features` output the statistics summarise.
        prior_utterances: Weight of the population prior inside the graph, in
            utterances (for the record: the graph applies it).
    """

    feature_dim: int
    prior_utterances: float

    def __post_init__(self) -> None:
        _integer("speaker_normalisation.feature_dim", self.feature_dim, least=1)
        if _finite("speaker_normalisation.prior_utterances", self.prior_utterances) < 0:
            raise ModelError(
                "metadata 'speaker_normalisation.prior_utterances' must not be negative, "
                f"not {self.prior_utterances}"
            )


@dataclass(frozen=True)
class ModelMetadata:
    """Attributes:
    name: Human-readable model name (shown in the UI footer and events).
    labels: Emotion labels in logit order.
    sample_rate: Rate the `waveform` input must have.
    min_seconds: Shortest input the network accepts; shorter utterances are padded.
    max_seconds: Longest input the network was trained for; longer ones are cropped
        to the centre by the runtime.
    frontend: Feature settings inside the graph (for the record; the graph applies them).
    ood: The OOD calibration.
    training: Corpora, protocol, metrics, date and code version.
    embedding_dim: Size of the `embedding` output.
    speaker_normalisation: Set when the graph standardises its features with the
        stream's own statistics (extra inputs, a `features` output); None otherwise.
    schema: Metadata schema version.
    """

    name: str
    labels: tuple[str, ...]
    sample_rate: int
    min_seconds: float
    max_seconds: float
    frontend: dict[str, Any]
    ood: OodCalibration
    training: dict[str, Any]
    embedding_dim: int
    speaker_normalisation: SpeakerNormalisationInfo | None = None
    schema: str = SCHEMA

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ModelError(f"metadata 'name' must be a non-empty string, not {_shown(self.name)}")
        labels = self.labels
        if (
            not isinstance(labels, (tuple, list))
            or len(labels) < 2
            or not all(isinstance(label, str) and label for label in labels)
        ):
            raise ModelError("metadata 'labels' must be two or more names")
        if len(set(labels)) != len(labels):
            raise ModelError(f"metadata 'labels' names a class twice: {', '.join(labels)}")
        rate = _integer("sample_rate", self.sample_rate, least=1)
        longest = _finite("max_seconds", self.max_seconds)
        if not 1 / rate <= longest <= MAX_INPUT_SECONDS:
            raise ModelError(
                f"metadata 'max_seconds' must be within one sample and {MAX_INPUT_SECONDS:g} "
                f"seconds, not {self.max_seconds}"
            )
        if not 0 <= _finite("min_seconds", self.min_seconds) <= longest:
            raise ModelError(
                f"metadata 'min_seconds' must be within 0 and max_seconds ({longest:g}), "
                f"not {self.min_seconds}"
            )
        _object("frontend", self.frontend)
        _object("training", self.training)
        _integer("embedding_dim", self.embedding_dim, least=1)
        if not isinstance(self.ood, OodCalibration):
            raise ModelError("metadata 'ood' must be an OOD calibration")

    def to_json(self) -> str:
        data = asdict(self)
        data["labels"] = list(self.labels)
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, source: str = "model") -> ModelMetadata:
        """Parses and validates; every problem is a one-line ModelError naming `source`."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as error:  # a JSONDecodeError, or a number or
            # nesting beyond what Python parses: not metadata anyone wrote
            reason = str(error)[:200]
            raise ModelError(f"{source}: streamser metadata is not valid JSON ({reason})") from None
        if not isinstance(data, dict):
            raise ModelError(f"{source}: streamser metadata is not a JSON object")
        schema = data.get("schema")
        if schema not in SUPPORTED_SCHEMAS:
            raise ModelError(
                f"{source}: unknown metadata schema {schema!r} "
                f"(this streamser reads {', '.join(SUPPORTED_SCHEMAS)})"
            )
        required = [
            "name", "labels", "sample_rate", "min_seconds", "max_seconds",
            "frontend", "ood", "training", "embedding_dim",
        ]  # fmt: skip
        missing = [key for key in required if key not in data]
        if missing:
            raise ModelError(f"{source}: metadata lacks {', '.join(missing)}")
        try:
            return cls._from_fields(data)
        except ModelError as error:
            raise ModelError(f"{source}: {error}") from None

    @classmethod
    def _from_fields(cls, data: dict[str, Any]) -> ModelMetadata:
        ood = _object("ood", data["ood"])
        ood_missing = [key for key in ("method", "threshold", "tpr") if key not in ood]
        if ood_missing:
            raise ModelError(f"metadata 'ood' lacks {', '.join(ood_missing)}")
        try:
            calibration = OodCalibration(**ood)
        except TypeError as error:  # a key the calibration does not have
            raise ModelError(f"metadata 'ood': {error}") from None
        speaker = data.get("speaker_normalisation")
        try:
            speaker_info = (
                SpeakerNormalisationInfo(**_object("speaker_normalisation", speaker))
                if speaker is not None
                else None
            )
        except TypeError as error:
            raise ModelError(f"metadata 'speaker_normalisation': {error}") from None
        labels = data["labels"]
        return cls(
            name=data["name"],
            labels=tuple(labels) if isinstance(labels, list) else labels,
            sample_rate=data["sample_rate"],
            min_seconds=data["min_seconds"],
            max_seconds=data["max_seconds"],
            frontend=data["frontend"],
            ood=calibration,
            training=data["training"],
            embedding_dim=data["embedding_dim"],
            speaker_normalisation=speaker_info,
            schema=data["schema"],
        )
