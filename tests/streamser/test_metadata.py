"""The model metadata contract: what the runtime accepts and how it says no."""

import json

import numpy as np
import pytest

from streamser.errors import ModelError
from streamser.metadata import ModelMetadata, OodCalibration, decode_array, encode_array
from streamser.ood import OodGate


def metadata(**changes) -> dict:
    data = {
        "schema": "streamser.model/1",
        "name": "m",
        "labels": ["neutral", "happy"],
        "sample_rate": 16000,
        "min_seconds": 0.1,
        "max_seconds": 30.0,
        "frontend": {},
        "ood": {"method": "energy", "threshold": 1.0, "tpr": 0.95},
        "training": {},
        "embedding_dim": 4,
    }
    data.update(changes)
    return data


def test_round_trip():
    original = ModelMetadata.from_json(json.dumps(metadata()))
    assert ModelMetadata.from_json(original.to_json()) == original


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"schema": "streamser.model/9"}, "unknown metadata schema 'streamser.model/9'"),
        ({"labels": ["only"]}, "'labels' must be two or more names"),
        ({"ood": {"method": "vibes", "threshold": 0, "tpr": 0.9}}, "unknown OOD method 'vibes'"),
        ({"ood": {"method": "energy", "tpr": 0.9}}, "metadata 'ood' lacks threshold"),
    ],
)
def test_bad_metadata_is_one_line_naming_the_problem(changes, message):
    with pytest.raises(ModelError, match=message) as info:
        ModelMetadata.from_json(json.dumps(metadata(**changes)), "x.onnx")
    assert str(info.value).startswith("x.onnx: ")


def test_missing_fields_are_listed():
    data = metadata()
    del data["labels"], data["embedding_dim"]
    with pytest.raises(ModelError, match="metadata lacks labels, embedding_dim"):
        ModelMetadata.from_json(json.dumps(data))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_encoded_arrays_round_trip_within_their_precision(dtype):
    array = np.random.default_rng(0).standard_normal((7, 5))
    decoded = decode_array(json.loads(json.dumps(encode_array(array, dtype))))
    assert decoded.shape == (7, 5)
    np.testing.assert_allclose(decoded, array, rtol=1e-3 if dtype == "float16" else 1e-6)


def test_the_gate_reads_encoded_parameters_and_rejects_malformed_ones():
    reference = np.eye(4)
    encoded = OodCalibration(
        method="knn",
        threshold=-0.5,
        tpr=0.95,
        params={"reference": encode_array(reference), "k": 1},
    )
    decision = OodGate(encoded).decide(np.zeros(2), np.array([1.0, 0, 0, 0]))
    assert decision.accepted and decision.score == pytest.approx(0.0)
    broken = OodCalibration(
        method="knn",
        threshold=0,
        tpr=0.95,
        params={"reference": {"dtype": "float32", "shape": [3], "base64": "!!"}},
    )
    with pytest.raises(ModelError, match=r"ood.params\['reference'\]: malformed encoded array"):
        OodGate(broken)
