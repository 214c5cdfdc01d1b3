"""The model file of an encoder-feature adaptation: front end, encoder and vector as the
accurate tier builds them, then the adaptation network from that vector to its outputs.

The graph up to the vector is built as the accurate tier's is
(`training.encoder.export.encoder_then`: Whisper log-mel, the frozen encoder up to the
layer the checkpoint names, mean and standard deviation over speech frames),
so the runtime computes exactly the vectors the network was trained on
(`training.adapt.features`). The network after the vector (batch norm, FC1, FC2, the
output layer) is written as ONNX operators from its weights, a few nodes, as the
accurate tier's head is. The file keeps the model contract (`waveform` in; `logits`,
`embedding` and `features` out); `training.onnx_writer.write_model` writes it once the
runtime's logits on a few utterances match the torch network's on the vectors the
training code computes for the same utterances.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper

from streamser.constants import SAMPLE_RATE_HZ
from streamser.metadata import ModelMetadata, OodCalibration
from streamser.model import FEATURES_OUTPUT_NAME, INPUT_NAME, OUTPUT_NAMES
from training.adapt.network import DidanNet
from training.encoder.embeddings import MIN_SAMPLES
from training.encoder.export import (
    MAX_SECONDS,
    PARITY_TOLERANCE,
    encoder_frontend,
    encoder_then,
    head_model,
)
from training.onnx_writer import write_model

PARITY_LENGTHS = (MIN_SAMPLES // 2, SAMPLE_RATE_HZ, 3 * SAMPLE_RATE_HZ, 9 * SAMPLE_RATE_HZ)
"""Utterances the parity check runs: shorter than the minimum (repeated up to it), one
and three seconds, and longer than the encoder's 8 s window (its centre kept)."""


def network_graph(model: DidanNet) -> onnx.ModelProto:
    """The network after its input, from its weights: `features` [batch, vector_dim] ->
    logits, embedding (eval mode: batch norm with its running statistics, no dropout)."""
    model = model.eval()
    if not model.encoder_input:
        raise ValueError("a log-mel network computes its own input; export it with torch")
    norm = model.input_norm
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    weights = {
        "norm.scale": scale,
        "norm.shift": norm.bias - norm.running_mean * scale,
        "fc1.weight": model.fc1.weight.T,
        "fc1.bias": model.fc1.bias,
        "fc2.weight": model.fc2.weight.T,
        "fc2.bias": model.fc2.bias,
        "output.weight": model.output.weight.T,
        "output.bias": model.output.bias,
    }
    arrays = {k: v.detach().numpy().astype(np.float32) for k, v in weights.items()}
    arrays |= {
        "min_norm": np.array(1e-12, np.float32),  # torch.nn.functional.normalize's eps
        "last_axis": np.array([-1], np.int64),
    }
    node = helper.make_node
    nodes = [
        node("Mul", [FEATURES_OUTPUT_NAME, "norm.scale"], ["scaled"]),
        node("Add", ["scaled", "norm.shift"], ["normalised"]),
        node("MatMul", ["normalised", "fc1.weight"], ["fc1_mm"]),
        node("Add", ["fc1_mm", "fc1.bias"], ["fc1_pre"]),
        node("Relu", ["fc1_pre"], ["fc1"]),
        node("MatMul", ["fc1", "fc2.weight"], ["fc2_mm"]),
        node("Add", ["fc2_mm", "fc2.bias"], ["projected"]),
        node("Relu", ["projected"], ["fc2"]),
        node("MatMul", ["fc2", "output.weight"], ["output_mm"]),
        node("Add", ["output_mm", "output.bias"], [OUTPUT_NAMES[0]]),
        node("ReduceL2", ["projected", "last_axis"], ["norm_raw"], keepdims=1),
        node("Max", ["norm_raw", "min_norm"], ["norm"]),
        node("Div", ["projected", "norm"], [OUTPUT_NAMES[1]]),
    ]
    config = model.config
    batch = "batch"
    inputs = [
        helper.make_tensor_value_info(
            FEATURES_OUTPUT_NAME, TensorProto.FLOAT, [batch, config.vector_dim]
        )
    ]
    return head_model(
        "adaptation_network", nodes, inputs, arrays, len(config.classes), config.embedding_dim
    )


def adapted_graph(
    encoder: Path, outputs: Sequence[str], pad: str, model: DidanNet
) -> onnx.ModelProto:
    """waveform -> logits, embedding, features: the vector graph of `outputs` (built as the
    accurate tier's), then the adaptation network."""
    return encoder_then(encoder, outputs, pad, network_graph(model), "adapt/", "streamser_adapted")


def parity_error(
    model: DidanNet, encoder: Path, outputs: Sequence[str], pad: str, path: Path, seed: int = 0
) -> float:
    """Largest |logit| difference between the runtime running the file
    (`streamser.model.EmotionModel`, one utterance at a time, and a batch of two padded
    as its batcher pads) and the torch network fed the vectors the training code computes
    (`training.encoder.embeddings.Embedder`, as `training.adapt.features` caches them)
    for the same utterances."""
    import onnxruntime

    from streamser.audio.formats import int16_to_float
    from streamser.model import EmotionModel
    from training.encoder.embeddings import Embedder, EncoderSetting

    runtime = EmotionModel.load(path)
    embedder = Embedder(encoder, EncoderSetting(tuple(outputs), pad))
    rng = np.random.default_rng(seed)
    clips = []
    for length in PARITY_LENGTHS:
        t = np.arange(length) / SAMPLE_RATE_HZ
        tone = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 300) * t)
        audio = tone + 0.05 * rng.standard_normal(length)
        clips.append(np.clip(audio * 32767, -32768, 32767).astype(np.int16))
    model = model.eval()
    with torch.no_grad():
        embedded = [embedder.embed(clip) for clip in clips]
        vectors = np.stack([np.concatenate([e[n] for n in outputs]) for e in embedded])
        reference = model.head(torch.from_numpy(vectors)).logits.numpy()
    worst = 0.0
    for clip, expected in zip(clips, reference, strict=True):
        logits = runtime.infer(int16_to_float(clip)).logits
        worst = max(worst, float(np.abs(logits - expected).max()))
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    pair = [int16_to_float(c) for c in clips[1:3]]
    longest = max(len(x) for x in pair)
    batch = np.stack([np.pad(x, (longest - len(x), 0)) for x in pair]).astype(np.float32)
    (logits,) = session.run([OUTPUT_NAMES[0]], {INPUT_NAME: batch})
    return max(worst, float(np.abs(logits - reference[1:3]).max()))


def describe_adapted(
    encoder: Path,
    outputs: Sequence[str],
    pad: str,
    model: DidanNet,
    name: str,
    calibration: OodCalibration,
    training: dict,
) -> ModelMetadata:
    from datetime import date

    import streamser

    return ModelMetadata(
        name=name,
        labels=tuple(model.config.classes),
        sample_rate=SAMPLE_RATE_HZ,
        min_seconds=MIN_SAMPLES / SAMPLE_RATE_HZ,
        max_seconds=MAX_SECONDS,
        frontend=encoder_frontend(encoder, outputs, pad),
        ood=calibration,
        training={
            **training,
            "date": date.today().isoformat(),
            "code_version": streamser.__version__,
        },
        embedding_dim=model.config.embedding_dim,
    )


def export_adapted(
    encoder: Path,
    outputs: Sequence[str],
    pad: str,
    model: DidanNet,
    calibration: OodCalibration,
    path: Path,
    name: str,
    training: dict,
) -> Path:
    """Writes the model file (atomically, after the parity check); returns `path`."""
    metadata = describe_adapted(encoder, outputs, pad, model, name, calibration, training)
    proto = adapted_graph(encoder, outputs, pad, model)
    return write_model(
        proto,
        metadata,
        path,
        lambda written: parity_error(model, encoder, outputs, pad, written),
        PARITY_TOLERANCE,
    )
