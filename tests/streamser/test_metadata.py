"""The model metadata contract: what the runtime accepts and how it says no."""

import base64
import json
import re

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
        ({"name": ""}, "'name' must be a non-empty string"),
        ({"labels": "neutral,happy"}, "'labels' must be two or more names"),
        ({"labels": ["sad", "sad"]}, "'labels' names a class twice: sad, sad"),
        ({"sample_rate": 16000.5}, "'sample_rate' must be an integer >= 1, not 16000.5"),
        ({"sample_rate": True}, "'sample_rate' must be an integer >= 1, not True"),
        ({"max_seconds": float("inf")}, "'max_seconds' must be a finite number, not inf"),
        ({"max_seconds": 3600}, "'max_seconds' must be within one sample and 600 seconds"),
        ({"max_seconds": 10**400}, "'max_seconds' must be a finite number, not an integer of more"),
        ({"min_seconds": -1}, "'min_seconds' must be within 0 and max_seconds"),
        ({"embedding_dim": 0}, "'embedding_dim' must be an integer >= 1, not 0"),
        ({"training": []}, "'training' must be a JSON object, not []"),
        ({"ood": "energy"}, "'ood' must be a JSON object, not 'energy'"),
        (
            {"ood": {"method": "energy", "threshold": 1, "tpr": "abc"}},
            "'ood.tpr' must be a finite number, not 'abc'",
        ),
        (
            {"ood": {"method": "energy", "threshold": 1, "tpr": 0.9, "temperature": 0}},
            "'ood.temperature' must be positive",
        ),
        (
            {"ood": {"method": "energy", "threshold": 1, "tpr": 0.9, "params": "x"}},
            "'ood.params' must be a JSON object",
        ),
        (
            {
                "ood": {
                    "method": "energy",
                    "threshold": 1,
                    "tpr": 0.9,
                    "id_quantiles": {"energy": [1, "x"]},
                }
            },
            "'ood.id_quantiles.energy' must be a list of finite numbers",
        ),
        (
            {"ood": {"method": "energy", "threshold": 1, "tpr": 0.9, "direction": "up"}},
            "'ood.direction' must be lower_is_ood",
        ),
        (
            {"ood": {"method": ["energy"], "threshold": 1, "tpr": 0.9}},
            "unknown OOD method ['energy']",
        ),
        ({"speaker_normalisation": 3}, "'speaker_normalisation' must be a JSON object, not 3"),
        (
            {"speaker_normalisation": {"feature_dim": "x", "prior_utterances": 1}},
            "'speaker_normalisation.feature_dim' must be an integer >= 1",
        ),
        (
            {"speaker_normalisation": {"feature_dim": 4, "prior_utterances": float("nan")}},
            "'speaker_normalisation.prior_utterances' must be a finite number",
        ),
    ],
)
def test_bad_metadata_is_one_line_naming_the_problem(changes, message):
    with pytest.raises(ModelError, match=re.escape(message)) as info:
        ModelMetadata.from_json(json.dumps(metadata(**changes)), "x.onnx")
    assert str(info.value).startswith("x.onnx: ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text",
    ["{", "[" * 100_000 + "]" * 100_000, '{"name": ' + "1" * 5000 + "}"],
    ids=["cut short", "nested too deep", "a number too long"],
)
def test_metadata_that_is_not_json_python_parses_is_one_line(text):
    with pytest.raises(ModelError, match=r"^x\.onnx: streamser metadata is not valid JSON") as info:
        ModelMetadata.from_json(text, "x.onnx")
    assert "\n" not in str(info.value)


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


def test_a_symmetric_matrix_is_stored_as_its_upper_triangle_and_restored_whole():
    half = np.random.default_rng(0).standard_normal((6, 6))
    matrix = half + half.T
    encoded = json.loads(json.dumps(encode_array(matrix, "float64", symmetric=True)))
    assert encoded["layout"] == "upper" and encoded["shape"] == [6, 6]
    assert len(base64.b64decode(encoded["base64"])) == 21 * 8  # 6 * 7 / 2 values, not 36
    np.testing.assert_array_equal(decode_array(encoded), matrix)


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"layout": "lower"}, "unknown layout 'lower'"),
        ({"shape": [5, 5]}, "21 values do not fill the upper triangle of 5 x 5"),
        ({"shape": [6, 7]}, "needs a square shape"),
    ],
)
def test_a_malformed_upper_triangle_is_refused(change, problem):
    encoded = {**encode_array(np.eye(6), symmetric=True), **change}
    with pytest.raises(ValueError, match=problem):
        decode_array(encoded)


def test_only_a_square_array_can_be_stored_as_symmetric():
    with pytest.raises(ValueError, match="must be square"):
        encode_array(np.zeros((2, 3)), symmetric=True)


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
