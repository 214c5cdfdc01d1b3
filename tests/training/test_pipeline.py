"""Train -> export -> evaluate on a tiny corpus: the whole offline path, small enough for CI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from streamser.metadata import METADATA_KEY, ModelMetadata
from training.checkpoint import load_checkpoint
from training.config import TrainConfig
from training.evaluate import evaluate
from training.experiment import partition
from training.export import DEFAULT_OOD_METHOD, export_checkpoint
from training.onnx_writer import parity_error
from training.predict import EmotionPredictor
from training.trainer import Trainer

pytestmark = pytest.mark.tts


def tiny_config(manifest: Path, output: Path, **changes) -> TrainConfig:
    values = dict(
        data=(str(manifest),),
        output_dir=str(output),
        epochs=2,
        batch_size=8,
        crop_seconds=1.0,
        warmup_epochs=1,
        split_fractions=(0.6, 0.2, 0.2),
        hold_out_texts=0.0,
        threads=1,
    )
    values.update(changes)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def trained_run(tiny_corpus, tmp_path_factory):
    output = tmp_path_factory.mktemp("run")
    best = Trainer(tiny_config(tiny_corpus, output)).fit()
    return output, best


def test_training_writes_checkpoints_metrics_and_a_curve(trained_run):
    output, best = trained_run
    assert best.exists() and (output / "last.pt").exists()
    epochs = json.loads((output / "metrics.json").read_text())
    assert [e["epoch"] for e in epochs] == [0, 1]
    assert all(np.isfinite(e["loss_emotion"]) and 0 <= e["val_ua"] <= 1 for e in epochs)
    assert (output / "training-curve.png").stat().st_size > 5000


def test_splits_are_speaker_disjoint(tiny_corpus, tmp_path):
    data = partition(tiny_config(tiny_corpus, tmp_path))
    speakers = [{u.speaker for u in part} for part in (data.train, data.validation, data.test)]
    assert not (speakers[0] & speakers[1] or speakers[0] & speakers[2] or speakers[1] & speakers[2])


def test_export_is_self_describing_and_matches_torch(trained_run, tmp_path):
    _, best = trained_run
    path = export_checkpoint(best, tmp_path / "model.onnx", name="tiny")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["waveform"]
    assert [o.name for o in session.get_outputs()] == ["logits", "embedding"]
    assert session.get_inputs()[0].shape == ["batch", "samples"]
    metadata = ModelMetadata.from_json(session.get_modelmeta().custom_metadata_map[METADATA_KEY])
    assert metadata.labels == ("neutral", "happy", "angry", "sad")
    assert metadata.ood.method == DEFAULT_OOD_METHOD == "mahalanobis"
    assert metadata.ood.tpr == 0.95
    assert set(metadata.ood.id_quantiles) == {"energy", "msp", "max_logit", "mahalanobis", "knn"}
    assert {"class_means", "precision"} <= set(metadata.ood.params)
    assert parity_error(load_checkpoint(best).build_model(), path, 16000, False) < 1e-4
    embedding = session.run(["embedding"], {"waveform": np.zeros((1, 16000), np.float32) + 0.01})[0]
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, atol=1e-5)


def test_onnx_and_checkpoint_evaluate_identically(trained_run, tmp_path):
    _, best = trained_run
    config = TrainConfig.from_dict(load_checkpoint(best).train_config)
    test = partition(config).test
    onnx_path = export_checkpoint(best, tmp_path / "model.onnx")
    from_onnx = evaluate(EmotionPredictor(onnx_path), test)
    from_torch = evaluate(EmotionPredictor(best), test)
    assert from_onnx.utterances == from_torch.utterances == len(test)
    assert from_onnx.confusion == from_torch.confusion


def test_resume_continues_from_the_last_epoch(tiny_corpus, tmp_path):
    first = Trainer(tiny_config(tiny_corpus, tmp_path))
    first.fit(max_epochs=1)  # as if the run had been stopped after one epoch
    resumed = Trainer(tiny_config(tiny_corpus, tmp_path))
    resumed.resume(load_checkpoint(tmp_path / "last.pt"))
    assert resumed.start_epoch == 1
    resumed.fit()
    assert [e["epoch"] for e in json.loads((tmp_path / "metrics.json").read_text())] == [0, 1]


def test_cli_train_evaluate_export(trained_run, tiny_corpus, tmp_path):
    _, best = trained_run
    run = [sys.executable, "-m", "streamser"]
    exported = subprocess.run(
        [*run, "export", str(best), "-o", str(tmp_path / "m.onnx")], capture_output=True, text=True
    )
    assert exported.returncode == 0, exported.stderr
    report = tmp_path / "eval.json"
    evaluated = subprocess.run(
        [*run, "evaluate", str(tmp_path / "m.onnx"), str(tiny_corpus), "-o", str(report)],
        capture_output=True,
        text=True,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert "UA" in evaluated.stdout
    result = json.loads(report.read_text())
    assert result["utterances"] == 64
    assert report.with_suffix(".png").exists()
    missing = subprocess.run(
        [*run, "train", "-o", str(tmp_path / "x")], capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert missing.stderr.strip().endswith("training needs at least one corpus (--data NAME=PATH)")


def test_two_process_distributed_training_runs_a_few_steps(tiny_corpus, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
            "-m", "streamser", "train", "--data", str(tiny_corpus), "-o", str(tmp_path),
            "--epochs", "1", "--batch-size", "4", "--threads", "1",
        ],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    epochs = json.loads((tmp_path / "metrics.json").read_text())
    assert len(epochs) == 1  # only rank 0 writes
    assert (tmp_path / "best.pt").exists()
