"""The model file's self-description: `metadata_props["streamser"]`.

Training writes it at export; the runtime reads and validates it at load. One
definition here keeps the two halves from disagreeing about a field.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from streamser.errors import ModelError

METADATA_KEY = "streamser"
SCHEMA = "streamser.model/1"
SUPPORTED_SCHEMAS = (SCHEMA,)

OOD_METHODS = ("msp", "max_logit", "energy", "mahalanobis", "knn")
"""Score methods the runtime gate can apply (see streamser.ood)."""


def encode_array(array: np.ndarray, dtype: str = "float32") -> dict[str, Any]:
    """A compact JSON form of an array for `ood.params` (a KNN reference set of a few
    hundred embeddings is ~5x smaller as float16 base64 than as a list of numbers)."""
    data = np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": dtype, "shape": list(data.shape), "base64": base64.b64encode(data).decode()}


def decode_array(value: Any) -> np.ndarray:
    """The inverse of `encode_array`; plain nested lists are accepted too.

    Raises:
        ValueError: A malformed encoded array.
    """
    if isinstance(value, dict) and "base64" in value:
        try:
            dtype = np.dtype(value["dtype"]).newbyteorder("<")
            raw = base64.b64decode(value["base64"], validate=True)
            return np.frombuffer(raw, dtype=dtype).reshape(value["shape"]).astype(np.float64)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"malformed encoded array ({error})") from None
    return np.asarray(value, dtype=np.float64)


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
            "embedding", or "features" (a speaker-normalised model's pooled features
            before normalisation, which normalisation has not pulled towards the
            training data).
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
        if self.vector not in ("embedding", "features"):
            raise ModelError(f"OOD vector {self.vector!r}: expected embedding or features")
        if self.method not in OOD_METHODS:
            raise ModelError(
                f"unknown OOD method {self.method!r} (known: {', '.join(OOD_METHODS)})"
            )
        if not 0 < self.tpr <= 1:
            raise ModelError(f"OOD true-positive rate {self.tpr} is outside (0, 1]")


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
        if self.feature_dim < 1 or self.prior_utterances < 0:
            raise ModelError(
                "metadata 'speaker_normalisation' needs feature_dim >= 1 and prior_utterances >= 0"
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

    def to_json(self) -> str:
        data = asdict(self)
        data["labels"] = list(self.labels)
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, source: str = "model") -> ModelMetadata:
        """Parses and validates; every problem is a one-line ModelError naming `source`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ModelError(f"{source}: streamser metadata is not valid JSON ({error})") from None
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
        ood = data["ood"]
        ood_missing = [key for key in ("method", "threshold", "tpr") if key not in ood]
        if ood_missing:
            raise ModelError(f"{source}: metadata 'ood' lacks {', '.join(ood_missing)}")
        try:
            calibration = OodCalibration(**ood)
        except TypeError as error:
            raise ModelError(f"{source}: metadata 'ood': {error}") from None
        except ModelError as error:
            raise ModelError(f"{source}: {error}") from None
        speaker = data.get("speaker_normalisation")
        try:
            speaker_info = SpeakerNormalisationInfo(**speaker) if speaker is not None else None
        except TypeError as error:
            raise ModelError(f"{source}: metadata 'speaker_normalisation': {error}") from None
        except ModelError as error:
            raise ModelError(f"{source}: {error}") from None
        labels = tuple(data["labels"])
        if len(labels) < 2 or not all(isinstance(label, str) for label in labels):
            raise ModelError(f"{source}: metadata 'labels' must be two or more names")
        return cls(
            name=str(data["name"]),
            labels=labels,
            sample_rate=int(data["sample_rate"]),
            min_seconds=float(data["min_seconds"]),
            max_seconds=float(data["max_seconds"]),
            frontend=dict(data["frontend"]),
            ood=calibration,
            training=dict(data["training"]),
            embedding_dim=int(data["embedding_dim"]),
            speaker_normalisation=speaker_info,
            schema=schema,
        )
