"""A model's OOD evaluation: runtime/training parity on the bundled model, the command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamser.ood import OodGate, OodOptions
from training.ood.evaluation import METHODS, method_scores


@pytest.fixture(scope="module")
def exported():
    """The bundled model: trained, calibrated for every method, and already on disk
    (exporting a fresh one takes longer than this file's whole budget)."""
    from streamser.models import default_model_path

    return default_model_path()  # committed in models/; raises a ModelError if it is gone


def clips_for_parity() -> list[np.ndarray]:
    rng = np.random.default_rng(6)
    t = np.arange(24000) / 16000
    tone = 8000 * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * rng.standard_normal(len(t)))
    return [tone.astype(np.int16), (2000 * rng.standard_normal(40000)).astype(np.int16)]


def test_runtime_gate_and_training_give_the_same_scores(exported):
    """The evaluation's scores (batched, calibration read from the file) are the runtime
    gate's (one utterance at a time, on `EmotionModel.infer`) for every method, and so
    is its voicing measure."""
    from streamser.audio.formats import int16_to_float
    from streamser.model import EmotionModel
    from training.ood.evaluate_model import RuntimePredictor, onnx_calibration, outputs_for

    clips = clips_for_parity()
    calib = onnx_calibration(exported)
    training = outputs_for(RuntimePredictor(exported), clips, [None, None])
    runtime_model = EmotionModel.load(exported)
    assert calib == runtime_model.metadata.ood
    for method in ("msp", "max_logit", "energy", "mahalanobis", "knn"):
        gate = OodGate(runtime_model.metadata.ood, OodOptions(method=method))
        ours = method_scores(method, training.logits, training.embeddings, calib)
        for clip, score, voiced in zip(clips, ours, training.voiced, strict=True):
            audio = int16_to_float(clip)
            decision = gate.judge(runtime_model.infer(audio), audio)
            assert decision.score == pytest.approx(score, abs=1e-4), method
            assert decision.voiced_share == voiced  # the gate's other test, the same function


def test_training_predictor_agrees_with_the_runtime_to_float32_precision(exported):
    """`EmotionPredictor` (ORT's default threads, tiling) differs from the runtime only by
    float32 summation order: ~1e-7 relative in every score, Mahalanobis included."""
    from streamser.audio.formats import int16_to_float
    from streamser.model import EmotionModel
    from training.ood.evaluate_model import onnx_calibration, outputs_for
    from training.predict import EmotionPredictor

    clips = clips_for_parity()
    calib = onnx_calibration(exported)
    training = outputs_for(EmotionPredictor(exported), clips, [None, None])
    runtime_model = EmotionModel.load(exported)
    for method in ("msp", "max_logit", "energy", "mahalanobis", "knn"):
        gate = OodGate(calib, OodOptions(method=method))
        ours = method_scores(method, training.logits, training.embeddings, calib)
        for clip, score in zip(clips, ours, strict=True):
            audio = int16_to_float(clip)
            runtime = gate.judge(runtime_model.infer(audio), audio).score
            assert runtime == pytest.approx(score, rel=1e-5, abs=1e-4), method


@pytest.mark.tts
def test_evaluate_command_writes_the_ood_table_and_json(exported, tiny_corpus, tmp_path):
    from streamser.cli.main import main

    output = tmp_path / "eval.json"
    code = main(
        ["evaluate", str(exported), str(tiny_corpus), "--ood", "non-speech", "-o", str(output)]
    )
    assert code == 0
    report = json.loads((tmp_path / "eval-ood.json").read_text())
    assert {r["method"] for r in report["rows"]} == set(METHODS)
    assert report["sets"][0]["name"] == "non-speech"
    assert report["gate"][0]["accuracy_all"] >= 0
    assert "| non-speech | semantic |" in (tmp_path / "eval-ood.md").read_text()
