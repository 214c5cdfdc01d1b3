"""`streamser export` of an encoder-feature adaptation: one file with the accurate tier's
front end, encoder and vector, then the adaptation network; the runtime runs it as the
torch network computes on the training code's vectors (on the tiny stand-in encoder)."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import soundfile
import torch
from support.tiny_encoder import write_tiny_encoder

from streamser.model import EmotionModel
from training.adapt.checkpoint import load_adapt_checkpoint, save_adapt_checkpoint
from training.adapt.encoder_export import adapted_graph, network_graph
from training.adapt.network import DidanConfig, DidanNet
from training.encoder.embeddings import Embedder, EncoderSetting
from training.encoder.fetch import ENCODER_ENV
from training.encoder.graph import LAYER_OUTPUTS
from training.onnx_writer import write_model

CLASSES = ("neutral", "happy", "angry", "sad")
RATE = 16000


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    path = write_tiny_encoder(tmp_path / "tiny.onnx")
    monkeypatch.setenv(ENCODER_ENV, str(path))
    return path


def tones(root, name: str, shift: float) -> None:
    rng = np.random.default_rng(int(shift * 10))
    t = np.arange(RATE // 2) / RATE
    rows = ["path,emotion,speaker,corpus"]
    for k, emotion in enumerate(CLASSES):
        for i in range(4):
            f0 = (150 + 60 * k) * shift * (1 + 0.03 * i)
            audio = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal(len(t))
            path = f"{name}-{emotion}-{i}.wav"
            soundfile.write(root / path, audio.astype(np.float32), RATE, subtype="PCM_16")
            rows.append(f"{path},{emotion},{name}-{i % 2},{name}")
    (root / f"{name}.csv").write_text("\n".join(rows) + "\n")


def adapted(tmp_path) -> tuple:
    """An encoder-feature adaptation run by the CLI, its checkpoint and the model exported
    from it by the CLI."""
    from streamser.cli.main import main

    tones(tmp_path, "src", 1.0)
    (tmp_path / "calls").mkdir()
    tones(tmp_path / "calls", "tgt", 1.5)
    (tmp_path / "calls" / "tgt.csv").unlink()  # the target: a folder of recordings
    argv = ["adapt", "--source", f"manifest={tmp_path / 'src.csv'}"]
    argv += ["--target", str(tmp_path / "calls"), "--features", "encoder"]
    argv += ["--embeddings", str(tmp_path / "vectors"), "--steps", "4", "--threads", "1"]
    assert main([*argv, "-o", str(tmp_path / "run")]) == 0
    model = tmp_path / "mine.onnx"
    assert main(["export", str(tmp_path / "run" / "adapt.pt"), "-o", str(model)]) == 0
    return load_adapt_checkpoint(tmp_path / "run" / "adapt.pt"), model


def test_an_encoder_feature_adaptation_exports_and_the_runtime_runs_it(tiny, tmp_path):
    checkpoint, path = adapted(tmp_path)
    assert checkpoint.inputs["outputs"] == [LAYER_OUTPUTS[1]]
    model = EmotionModel.load(path)
    meta = model.metadata
    assert model.labels == CLASSES and meta.embedding_dim == 128
    assert (meta.sample_rate, meta.min_seconds, meta.max_seconds) == (RATE, 0.1, 8.0)
    assert meta.frontend["type"] == "whisper-log-mel"
    assert meta.frontend["encoder_outputs"] == [LAYER_OUTPUTS[1]]
    assert meta.frontend["leading_zeros_invariant"] is True
    assert meta.training["features"] == "encoder" and "encoder" in meta.training["network"]
    assert meta.training["input"]["encoder_sha256"] == meta.frontend["encoder_sha256"]
    assert meta.training["target"]["utterances"] == 16 and meta.speaker_normalisation is None
    assert meta.ood.method == "energy"
    # The gate is calibrated on the target's own outputs, no label read.
    from training.ood.calibration import calibrate

    expected = calibrate(checkpoint.target_logits, checkpoint.target_embeddings, "energy")
    assert meta.ood.threshold == pytest.approx(expected.threshold)
    # The runtime's outputs are the torch network's on the vectors training computes.
    clip = (3000 * np.sin(np.arange(24000) / 9)).astype(np.int16)
    vector = Embedder(tiny, EncoderSetting((LAYER_OUTPUTS[1],))).embed(clip)[LAYER_OUTPUTS[1]]
    with torch.no_grad():
        out = checkpoint.build_model().head(torch.from_numpy(vector)[None])
    inference = model.infer(clip.astype(np.float32) / 32768)
    assert np.abs(inference.logits - out.logits.numpy()[0]).max() < 1e-3
    assert np.abs(inference.embedding - out.embedding.numpy()[0]).max() < 1e-4
    # Leading zeros change nothing (the runtime batches utterances padded with them).
    padded = model.infer(np.concatenate([np.zeros(4000), clip / 32768]).astype(np.float32))
    assert np.abs(padded.logits - inference.logits).max() < 1e-4


def test_the_network_graph_is_the_torch_network_after_its_input():
    net = DidanNet(DidanConfig(classes=CLASSES, features="encoder", vector_dim=12))
    with torch.no_grad():  # running statistics other than the initial ones
        net.input_norm.running_mean.uniform_(-1, 1)
        net.input_norm.running_var.uniform_(0.5, 2)
    net.eval()
    session = onnxruntime.InferenceSession(
        network_graph(net).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    x = np.random.default_rng(0).standard_normal((3, 12)).astype(np.float32)
    logits, embedding = session.run(None, {"features": x})
    with torch.no_grad():
        out = net.head(torch.from_numpy(x))
    np.testing.assert_allclose(logits, out.logits.numpy(), atol=1e-5)
    np.testing.assert_allclose(embedding, out.embedding.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="log-mel"):
        network_graph(DidanNet(DidanConfig(classes=CLASSES)))


def test_a_checkpoint_from_another_encoder_is_refused_and_parity_guards_the_file(
    tiny, tmp_path, capsys
):
    from streamser.cli.main import main

    checkpoint, _ = adapted(tmp_path)
    checkpoint.inputs = {**checkpoint.inputs, "encoder_sha256": "0" * 64}
    save_adapt_checkpoint(checkpoint, tmp_path / "other.pt")
    assert main(["export", str(tmp_path / "other.pt"), "-o", str(tmp_path / "o.onnx")]) != 0
    assert "its vectors would differ" in capsys.readouterr().err
    assert not (tmp_path / "o.onnx").exists()
    from streamser.model import EmotionModel as Runtime

    meta = Runtime.load(tmp_path / "mine.onnx").metadata
    proto = adapted_graph(tiny, [LAYER_OUTPUTS[1]], "left", checkpoint.build_model())
    with pytest.raises(RuntimeError, match="parity check failed"):
        write_model(proto, meta, tmp_path / "never.onnx", lambda _: 1.0)
    assert not (tmp_path / "never.onnx").exists()
