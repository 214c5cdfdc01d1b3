"""The accurate model file: one graph, the runtime's contract, the head's numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamser.labels import FOUR_CLASS
from streamser.model import EmotionModel, ModelOptions
from streamser.speaker import SpeakerStatistics
from training.encoder.export import accurate_graph, describe_accurate, export_accurate
from training.encoder.graph import LAYER_OUTPUTS, POOLED
from training.encoder.head import HeadData, HeadOptions, train_head
from training.onnx_writer import write_model
from training.ood.calibration import calibrate, embedding_params


def _head(speaker_normalise: bool, outputs=(LAYER_OUTPUTS[1],)):
    rng = np.random.default_rng(0)
    dim = sum(384 if name == POOLED else 768 for name in outputs)
    x = rng.standard_normal((48, dim)).astype(np.float32)
    data = HeadData(x, np.arange(48) % 4, [f"s{i % 3}" for i in range(48)], {})
    options = HeadOptions(
        outputs=outputs, epochs=2, hidden=16, embedding_dim=8, speaker_normalise=speaker_normalise
    )
    head, _ = train_head(data, None, FOUR_CLASS, options)
    logits = np.zeros((48, 4))
    params = embedding_params(x, data.emotion, 4)
    return head, calibrate(logits, x, method="mahalanobis", params=params, vector="features")


def _speech(seconds: float, seed: int) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * 16000))).astype(
        np.float32
    )


def test_the_exported_model_runs_in_the_runtime_as_the_head_computes(tiny_encoder, tmp_path):
    head, calibration = _head(speaker_normalise=True)
    path = export_accurate(
        tiny_encoder, head, FOUR_CLASS, calibration, tmp_path / "a.onnx", "test", {"corpora": []}
    )
    model = EmotionModel.load(path)
    assert model.speaker_normalised and model.labels == FOUR_CLASS
    assert model.metadata.max_seconds == 8.0
    assert model.metadata.frontend["leading_zeros_invariant"] is True
    assert model.metadata.training["head"]["hidden"] == 16
    assert model.metadata.embedding_dim == HeadOptions().heads * 8  # the heads side by side
    speaker = SpeakerStatistics()
    first = model.infer(_speech(2.0, 1), speaker)
    second = model.infer(_speech(3.0, 2), speaker)
    # The file's logits are the torch head's on the file's own features and statistics.
    context = (
        torch.from_numpy(first.features[None]).float(),
        torch.from_numpy(first.features[None] ** 2).float(),
        torch.ones(1),
    )
    with torch.no_grad():
        expected, _ = head.eval_forward(torch.from_numpy(second.features[None]).float(), context)
    assert np.abs(second.logits - expected.numpy()[0]).max() < 1e-3
    assert np.linalg.norm(second.embedding) == pytest.approx(1.0, abs=1e-5)


def test_leading_zeros_do_not_change_what_the_model_says(tiny_encoder, tmp_path):
    head, calibration = _head(speaker_normalise=False, outputs=(POOLED, LAYER_OUTPUTS[1]))
    path = export_accurate(
        tiny_encoder, head, FOUR_CLASS, calibration, tmp_path / "b.onnx", "t", {}
    )
    model = EmotionModel.load(path)
    assert not model.speaker_normalised
    speech = _speech(1.5, 3)
    plain = model.infer(speech)
    padded = model.infer(np.concatenate([np.zeros(8000, np.float32), speech]))
    assert np.abs(plain.logits - padded.logits).max() < 1e-4


def test_an_exported_model_is_readable_by_everyone_not_only_its_writer(tiny_encoder, tmp_path):
    head, calibration = _head(speaker_normalise=False)
    path = export_accurate(
        tiny_encoder, head, FOUR_CLASS, calibration, tmp_path / "a.onnx", "test", {"corpora": []}
    )
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_file_that_fails_its_parity_check_is_never_written(tiny_encoder, tmp_path):
    head, calibration = _head(speaker_normalise=False)
    metadata = describe_accurate(tiny_encoder, head, FOUR_CLASS, "t", calibration, {})
    target = tmp_path / "never.onnx"
    with pytest.raises(RuntimeError, match="parity check failed"):
        write_model(accurate_graph(tiny_encoder, head), metadata, target, lambda _: 1.0)
    assert list(tmp_path.iterdir()) == []


def test_a_gate_on_another_layer_reads_that_layer_s_own_output(tiny_encoder, tmp_path):
    from streamser.ood import OodGate

    head, _ = _head(speaker_normalise=True, outputs=(LAYER_OUTPUTS[0],))
    gate_x = np.random.default_rng(1).standard_normal((48, 2 * 768))
    params = embedding_params(gate_x, np.arange(48) % 4, 4)
    calibration = calibrate(
        np.zeros((48, 4)), gate_x, method="mahalanobis", params=params, vector="gate_features"
    )
    gate_layer = LAYER_OUTPUTS[:2]  # the head's layer and the next, side by side
    path = export_accurate(
        tiny_encoder, head, FOUR_CLASS, calibration, tmp_path / "g.onnx", "t", {}, gate_layer
    )
    model = EmotionModel.load(path)
    assert model.metadata.frontend["gate_outputs"] == list(gate_layer)
    speech = _speech(2.0, 4)
    inference = model.infer(speech)
    assert inference.features.shape == (768,) and inference.gate_features.shape == (2 * 768,)
    assert np.array_equal(inference.gate_features[:768], inference.features)
    assert not np.allclose(inference.gate_features[768:], inference.features)
    decision = OodGate(model.metadata.ood).judge(inference, speech)
    expected = OodGate(model.metadata.ood).decide(inference.logits, inference.gate_features)
    assert decision.score == expected.score
    batched = EmotionModel.load(path, ModelOptions(batch=True)).infer(speech)
    assert np.allclose(batched.gate_features, inference.gate_features, atol=1e-5)


def test_a_gate_that_reads_an_output_the_file_lacks_is_refused_at_load(tiny_encoder, tmp_path):
    from streamser.errors import ModelError

    head, _ = _head(speaker_normalise=False)
    x = np.random.default_rng(2).standard_normal((48, 768))
    params = embedding_params(x, np.arange(48) % 4, 4)
    calibration = calibrate(
        np.zeros((48, 4)), x, method="mahalanobis", params=params, vector="gate_features"
    )
    metadata = describe_accurate(tiny_encoder, head, FOUR_CLASS, "t", calibration, {})
    target = tmp_path / "lacks.onnx"
    write_model(accurate_graph(tiny_encoder, head), metadata, target, lambda _: 0.0)
    with pytest.raises(ModelError, match="its gate reads 'gate_features', an output the model"):
        EmotionModel.load(target)
