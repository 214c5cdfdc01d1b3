"""Loading a model file: the checks, the one-line errors, and the inference contract."""

import json
import os
import time

import numpy as np
import pytest

from streamser.errors import ModelError
from streamser.model import EXACT_INT8_KEY, MAX_MODEL_BYTES, EmotionModel, ModelOptions
from streamser.models import default_model_path
from streamser.speaker import SpeakerStatistics


def test_loads_metadata_labels_and_hash(loaded_model, untrained_model):
    assert loaded_model.labels == ("neutral", "happy", "angry", "sad")
    assert loaded_model.metadata.name == "untrained"
    assert len(loaded_model.short_sha) == 12
    assert loaded_model.providers == ["CPUExecutionProvider"]


def test_infer_returns_logits_and_a_unit_embedding(loaded_model):
    out = loaded_model.infer(np.zeros(16000, dtype=np.float32) + 0.01)
    assert out.logits.shape == (4,) and out.embedding.shape == (128,)
    assert np.linalg.norm(out.embedding) == pytest.approx(1.0, abs=1e-4)


def test_short_input_is_repeated_and_long_input_cropped(loaded_model):
    rng = np.random.default_rng(0)
    tiny = loaded_model.infer(np.zeros(10, dtype=np.float32))
    assert np.all(np.isfinite(tiny.logits))
    assert np.all(np.isfinite(loaded_model.infer(np.zeros(0, dtype=np.float32)).logits))
    # Repeated the way training repeats short clips, so both sides see the same input.
    short = (0.1 * rng.standard_normal(300)).astype(np.float32)
    repeated = np.tile(short, -(-loaded_model.min_samples // 300))[: loaded_model.min_samples]
    np.testing.assert_array_equal(
        loaded_model.infer(short).logits, loaded_model.infer(repeated).logits
    )
    long = (0.1 * rng.standard_normal(loaded_model.max_samples + 32000)).astype(np.float32)
    centre = long[16000 : 16000 + loaded_model.max_samples]
    assert np.allclose(loaded_model.infer(long).logits, loaded_model.infer(centre).logits)


def test_a_speaker_normalised_model_reads_the_statistics_and_adds_the_utterance(
    speaker_normalised_model,
):
    model = EmotionModel.load(speaker_normalised_model)
    dim = model.metadata.speaker_normalisation.feature_dim
    rng = np.random.default_rng(1)
    voice = (0.2 * rng.standard_normal(16000)).astype(np.float32)
    other = (0.05 * rng.standard_normal(16000)).astype(np.float32)
    cold = model.infer(voice)  # no statistics: the population prior alone
    assert cold.features.shape == (dim,)
    stream = SpeakerStatistics()
    for _ in range(3):
        model.infer(other, stream)
    assert stream.count == 3
    warm = model.infer(voice, stream)
    assert stream.count == 4
    np.testing.assert_allclose(warm.features, cold.features, rtol=1e-6)  # before normalisation
    assert not np.allclose(warm.logits, cold.logits, atol=1e-3)  # after it: the stream's own
    assert model.infer(voice).logits.tolist() == cold.logits.tolist()


def test_int8_products_are_kept_exact_whatever_the_cpu(loaded_model):
    # Without it, x86 CPUs lacking VNNI saturate int8 sums and compute other vectors.
    options = loaded_model._session.get_session_options()
    assert options.get_session_config_entry(EXACT_INT8_KEY) == "1"


def test_missing_model(tmp_path):
    with pytest.raises(ModelError, match=r"missing\.onnx: no such model file"):
        EmotionModel.load(tmp_path / "missing.onnx")


def test_corrupt_model(tmp_path):
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(b"\x08\x07garbage" * 100)
    with pytest.raises(ModelError, match=r"corrupt\.onnx: not a loadable ONNX model") as error:
        EmotionModel.load(path)
    assert "\n" not in str(error.value)


def test_only_a_regular_file_of_sane_size_is_read(tmp_path):
    fifo = tmp_path / "model.fifo"
    os.mkfifo(fifo)  # nobody writes to it: opening it to read must not wait
    huge = tmp_path / "huge.onnx"
    with huge.open("wb") as sparse:
        sparse.truncate(MAX_MODEL_BYTES + 1)
    cases = [
        ("/dev/zero", "/dev/zero: not a regular file"),  # endless: would fill the memory
        (fifo, r"model\.fifo: not a regular file"),
        (
            huge,
            rf"huge\.onnx: {MAX_MODEL_BYTES + 1} bytes, larger than a model may be \(1024 MiB\)",
        ),
        (tmp_path, "is a directory"),
    ]
    for path, message in cases:
        began = time.monotonic()
        with pytest.raises(ModelError, match=message):
            EmotionModel.load(path)
        assert time.monotonic() - began < 1.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_seconds", 0, "'max_seconds' must be within one sample and 600 seconds, not 0"),
        ("min_seconds", float("nan"), "'min_seconds' must be a finite number, not nan"),
        ("min_seconds", 1e12, "'min_seconds' must be within 0 and max_seconds"),
        ("embedding_dim", "abc", "'embedding_dim' must be an integer >= 1, not 'abc'"),
        ("frontend", "x", "'frontend' must be a JSON object, not 'x'"),
        ("sample_rate", "16k", "'sample_rate' must be an integer >= 1, not '16k'"),
        ("ood.threshold", "abc", "'ood.threshold' must be a finite number, not 'abc'"),
        ("ood.threshold", float("nan"), "'ood.threshold' must be a finite number, not nan"),
    ],
)
def test_every_metadata_value_is_checked_at_load(
    untrained_model, rewrite_metadata, tmp_path, field, value, message
):
    data = json.loads(EmotionModel.load(untrained_model).metadata.to_json())
    *parents, key = field.split(".")
    target = data
    for parent in parents:
        target = target[parent]
    target[key] = value
    path = rewrite_metadata(untrained_model, tmp_path / "broken.onnx", json.dumps(data))
    with pytest.raises(ModelError) as error:
        EmotionModel.load(path)
    assert str(error.value).startswith(f"{path}: metadata {message}")
    assert "\n" not in str(error.value)


def test_model_without_metadata(model_without_metadata):
    with pytest.raises(ModelError, match=r"no streamser metadata \(metadata_props\['streamser'\]"):
        EmotionModel.load(model_without_metadata)


def test_metadata_missing_fields_or_unknown_schema(untrained_model, rewrite_metadata, tmp_path):
    data = json.loads(EmotionModel.load(untrained_model).metadata.to_json())
    del data["labels"], data["ood"]["threshold"]
    path = rewrite_metadata(untrained_model, tmp_path / "partial.onnx", json.dumps(data))
    with pytest.raises(ModelError, match="metadata lacks labels"):
        EmotionModel.load(path)
    data = {**data, "schema": "streamser.model/99"}
    path = rewrite_metadata(untrained_model, tmp_path / "future.onnx", json.dumps(data))
    with pytest.raises(ModelError, match=r"unknown metadata schema 'streamser\.model/99'"):
        EmotionModel.load(path)


def test_metadata_that_disagrees_with_the_graph(untrained_model, rewrite_metadata, tmp_path):
    data = json.loads(EmotionModel.load(untrained_model).metadata.to_json())
    data["labels"] = ["neutral", "happy", "angry"]
    path = rewrite_metadata(untrained_model, tmp_path / "three.onnx", json.dumps(data))
    with pytest.raises(ModelError, match="logits have 4 classes but the metadata names 3"):
        EmotionModel.load(path)


def test_gpu_without_cuda_is_a_clear_error(untrained_model):
    with pytest.raises(ModelError, match="--gpu needs onnxruntime-gpu"):
        EmotionModel.load(untrained_model, ModelOptions(gpu=True))


def test_default_model_lookup(tmp_path, monkeypatch):
    import streamser.models as models

    monkeypatch.setattr(models, "_model_folders", lambda: [tmp_path])
    with pytest.raises(ModelError, match="no bundled model found; pass --model"):
        default_model_path()
    (tmp_path / "a.onnx").write_bytes(b"")
    assert default_model_path() == tmp_path / "a.onnx"
    (tmp_path / "b.onnx").write_bytes(b"")
    with pytest.raises(ModelError, match=r"several bundled models \(a.onnx, b.onnx\)"):
        default_model_path()
    (tmp_path / "default.onnx").write_bytes(b"")
    assert default_model_path() == tmp_path / "default.onnx"
