"""The accurate model file: front end, frozen encoder and trained head in one graph.

The head is written as ONNX operators from its weights (a few hundred kilobytes),
then joined to the encoder's vector graph (`training.encoder.graph.vector_model`) by name: the
vectors, side by side, are the head's `features` input. The result keeps the model
file's contract (`waveform` in; `logits`, `embedding` and, speaker-normalised,
`features` out; the speaker statistics as inputs), so the runtime runs it as it
runs the fast model. `training.onnx_writer.write_model` adds the metadata and
writes the file once its logits match the torch head's on the graph's own features.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, compose, helper, numpy_helper

from streamser.constants import SAMPLE_RATE_HZ
from streamser.metadata import ModelMetadata, OodCalibration, SpeakerNormalisationInfo
from streamser.model import (
    FEATURES_OUTPUT_NAME,
    GATE_FEATURES_OUTPUT_NAME,
    INPUT_NAME,
    OUTPUT_NAMES,
    SPEAKER_INPUT_NAMES,
)
from training.encoder.embeddings import MIN_SAMPLES
from training.encoder.fetch import sha256_of
from training.encoder.frontend import HOP, N_FFT, N_MELS, WINDOW_SAMPLES
from training.encoder.graph import align_opsets, vector_model, vector_name
from training.encoder.head import HeadEnsemble
from training.onnx_writer import OPSET, write_model

MAX_SECONDS = WINDOW_SAMPLES / SAMPLE_RATE_HZ
PARITY_TOLERANCE = 1e-3
"""Logits are scaled cosines (x30): 1e-3 is a cosine difference of 3e-5, float32
summation order between ONNX Runtime and torch."""


def head_graph(ensemble: HeadEnsemble) -> onnx.ModelProto:
    """The heads alone, from their weights: `features` (and the speaker statistics) ->
    logits, embedding. Written with ONNX operators directly (a few dozen nodes), which
    takes milliseconds where tracing it through torch's exporter takes seconds; the
    parity check holds it to the torch ensemble. Every head's weights are stacked on a
    leading axis, so the heads run as one batched product per layer."""
    ensemble = ensemble.eval()
    heads = list(ensemble.heads)
    options = ensemble.options

    def stacked(part) -> np.ndarray:
        return np.stack([part(head).detach().numpy() for head in heads]).astype(np.float32)

    arrays = {
        "population_mean": stacked(lambda h: h.normalisation.population_mean[None, :]),
        "population_var": stacked(lambda h: h.normalisation.population_var[None, :]),
        "hidden.weight": stacked(lambda h: h.hidden[1].weight.T),
        "hidden.bias": stacked(lambda h: h.hidden[1].bias[None, :]),
        "embed.weight": stacked(lambda h: h.embed.weight.T),
        "embed.bias": stacked(lambda h: h.embed.bias[None, :]),
        "classes": stacked(lambda h: torch.nn.functional.normalize(h.emotion.weight, dim=1).T),
    }
    arrays |= {
        "prior": np.array(options.speaker_prior_utterances, np.float32),
        "one": np.array(1.0, np.float32),
        "half": np.array(0.5, np.float32),
        "sqrt_half": np.array(np.sqrt(0.5), np.float32),
        "min_variance": np.array(1e-4, np.float32),
        "min_norm": np.array(1e-12, np.float32),
        "scale": np.array(heads[0].emotion.scale, np.float32),
        "unit_length": np.array(1 / np.sqrt(len(heads)), np.float32),
        "last_axis": np.array([-1], np.int64),
        "head_axis": np.array([0], np.int64),
        "side_by_side": np.array([0, -1], np.int64),
    }
    node = helper.make_node
    x = FEATURES_OUTPUT_NAME
    total, squares, count = SPEAKER_INPUT_NAMES
    if options.speaker_normalise:  # training.model.layers.SpeakerNormalisation, per head
        nodes = [
            node("Unsqueeze", [count, "last_axis"], ["count_col"]),
            node("Add", ["count_col", "one"], ["count_self"]),
            node("Add", ["count_self", "prior"], ["weight"]),
            node("Mul", ["population_mean", "prior"], ["prior_sum"]),
            node("Add", ["prior_sum", total], ["known_sum"]),
            node("Add", ["known_sum", x], ["all_sum"]),
            node("Div", ["all_sum", "weight"], ["mean"]),
            node("Mul", ["population_mean", "population_mean"], ["mean_sq"]),
            node("Add", ["population_var", "mean_sq"], ["prior_moment"]),
            node("Mul", ["prior_moment", "prior"], ["prior_squares"]),
            node("Add", ["prior_squares", squares], ["known_squares"]),
            node("Mul", [x, x], ["x_sq"]),
            node("Add", ["known_squares", "x_sq"], ["all_squares"]),
            node("Div", ["all_squares", "weight"], ["moment"]),
            node("Mul", ["mean", "mean"], ["mean2"]),
            node("Sub", ["moment", "mean2"], ["variance_raw"]),
            node("Max", ["variance_raw", "min_variance"], ["variance"]),
        ]
    else:
        nodes = [
            node("Identity", ["population_mean"], ["mean"]),
            node("Identity", ["population_var"], ["variance"]),
        ]
    nodes += [  # [heads, batch, ...] from here on
        node("Sub", [x, "mean"], ["centred"]),
        node("Sqrt", ["variance"], ["std"]),
        node("Div", ["centred", "std"], ["normalised"]),
        node("MatMul", ["normalised", "hidden.weight"], ["hidden_mm"]),
        node("Add", ["hidden_mm", "hidden.bias"], ["hidden_pre"]),
        node("Mul", ["hidden_pre", "sqrt_half"], ["gelu_scaled"]),  # exact GELU
        node("Erf", ["gelu_scaled"], ["gelu_erf"]),
        node("Add", ["gelu_erf", "one"], ["gelu_one"]),
        node("Mul", ["hidden_pre", "gelu_one"], ["gelu_x"]),
        node("Mul", ["gelu_x", "half"], ["hidden"]),
        node("MatMul", ["hidden", "embed.weight"], ["embed_mm"]),
        node("Add", ["embed_mm", "embed.bias"], ["embed_raw"]),
        node("ReduceL2", ["embed_raw", "last_axis"], ["embed_norm_raw"], keepdims=1),
        node("Max", ["embed_norm_raw", "min_norm"], ["embed_norm"]),
        node("Div", ["embed_raw", "embed_norm"], ["head_embedding"]),
        node("MatMul", ["head_embedding", "classes"], ["cosine"]),
        node("Mul", ["cosine", "scale"], ["head_logits"]),
        node("ReduceMean", ["head_logits", "head_axis"], [OUTPUT_NAMES[0]], keepdims=0),
        node("Transpose", ["head_embedding"], ["embedding_by_row"], perm=[1, 0, 2]),
        node("Reshape", ["embedding_by_row", "side_by_side"], ["embedding_joined"]),
        node("Mul", ["embedding_joined", "unit_length"], [OUTPUT_NAMES[1]]),
    ]
    dim, batch = ensemble.input_dim, "batch"
    inputs = [helper.make_tensor_value_info(x, TensorProto.FLOAT, [batch, dim])]
    if options.speaker_normalise:
        inputs += [
            helper.make_tensor_value_info(total, TensorProto.FLOAT, [batch, dim]),
            helper.make_tensor_value_info(squares, TensorProto.FLOAT, [batch, dim]),
            helper.make_tensor_value_info(count, TensorProto.FLOAT, [batch]),
        ]
    classes = heads[0].emotion.weight.shape[0]
    return head_model("head", nodes, inputs, arrays, classes, ensemble.embedding_dim)


def head_model(
    name: str,
    nodes: list,
    inputs: list,
    arrays: dict[str, np.ndarray],
    classes: int,
    embedding_dim: int,
) -> onnx.ModelProto:
    """A checked graph of `nodes` that ends in the runtime's two outputs (`logits`
    `[batch, classes]`, `embedding` `[batch, embedding_dim]`), `arrays` its weights:
    what any head put behind the encoder is."""
    batch = "batch"
    outputs = [
        helper.make_tensor_value_info(OUTPUT_NAMES[0], TensorProto.FLOAT, [batch, classes]),
        helper.make_tensor_value_info(OUTPUT_NAMES[1], TensorProto.FLOAT, [batch, embedding_dim]),
    ]
    initializers = [numpy_helper.from_array(v, name=k) for k, v in arrays.items()]
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    return model


def accurate_graph(
    encoder: Path, head: HeadEnsemble, gate_outputs: Sequence[str] = ()
) -> onnx.ModelProto:
    """waveform (and speaker statistics) -> logits, embedding, features (and, with
    `gate_outputs`, gate_features)."""
    options = head.options
    return encoder_then(
        encoder, options.outputs, options.pad, head_graph(head), "head/", gate_outputs=gate_outputs
    )


def encoder_then(
    encoder: Path,
    outputs: Sequence[str],
    pad: str,
    top: onnx.ModelProto,
    prefix: str,
    name: str = "streamser_accurate",
    gate_outputs: Sequence[str] = (),
) -> onnx.ModelProto:
    """Front end, encoder and vectors (`vector_model` of `outputs`), the vectors side
    by side as `features` [batch, dim], then `top`: a model reading `features` (and
    perhaps the speaker statistics) and writing logits and embedding. `top`'s other
    names get `prefix`, so they cannot clash with the encoder's. The result maps
    waveform (and `top`'s speaker inputs) -> logits, embedding, features: the model
    file's contract. With `gate_outputs`, their vectors side by side are one more
    output, `gate_features`, for a gate that reads other layers than the head."""
    vectors = vector_model(encoder, list(dict.fromkeys([*outputs, *gate_outputs])), pad)
    graph = vectors.graph
    joined = {FEATURES_OUTPUT_NAME: outputs}
    if gate_outputs:
        joined[GATE_FEATURES_OUTPUT_NAME] = gate_outputs
    widths = {o.name: o.type.tensor_type.shape.dim[1].dim_value for o in graph.output}
    del graph.output[:]
    for output_name, parts in joined.items():
        names = [vector_name(part) for part in parts]
        graph.node.append(helper.make_node("Concat", names, [output_name], axis=1))
        width = sum(widths[name] for name in names)
        info = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", width])
        graph.output.append(info)
    top = compose.add_prefix(top, prefix)
    kept = (FEATURES_OUTPUT_NAME, *SPEAKER_INPUT_NAMES, *OUTPUT_NAMES)
    _rename(top.graph, {prefix + n: n for n in kept})
    align_opsets(vectors, top)
    merged = compose.merge_models(
        vectors,
        top,
        io_map=[(FEATURES_OUTPUT_NAME, FEATURES_OUTPUT_NAME)],
        outputs=[*OUTPUT_NAMES, *joined],
    )
    merged.graph.name = name
    onnx.checker.check_model(merged)
    return merged


def _rename(graph: onnx.GraphProto, names: dict[str, str]) -> None:
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    for value in [*graph.input, *graph.output, *graph.value_info]:
        value.name = names.get(value.name, value.name)


def describe_accurate(
    encoder: Path,
    head: HeadEnsemble,
    classes: Sequence[str],
    name: str,
    calibration: OodCalibration,
    training: dict,
    gate_outputs: Sequence[str] = (),
) -> ModelMetadata:
    from datetime import date

    import streamser

    options = head.options
    speaker = None
    if options.speaker_normalise:
        speaker = SpeakerNormalisationInfo(head.input_dim, options.speaker_prior_utterances)
    return ModelMetadata(
        name=name,
        labels=tuple(classes),
        sample_rate=SAMPLE_RATE_HZ,
        min_seconds=MIN_SAMPLES / SAMPLE_RATE_HZ,
        max_seconds=MAX_SECONDS,
        frontend=encoder_frontend(encoder, options.outputs, options.pad, gate_outputs),
        ood=calibration,
        training={
            **training,
            "head": options.to_dict(),
            "date": date.today().isoformat(),
            "code_version": streamser.__version__,
        },
        embedding_dim=head.embedding_dim,
        speaker_normalisation=speaker,
    )


def encoder_frontend(
    encoder: Path, outputs: Sequence[str], pad: str, gate_outputs: Sequence[str] = ()
) -> dict:
    """The metadata's `frontend` of a model file that runs `encoder_then`."""
    gate = {"gate_outputs": list(gate_outputs)} if gate_outputs else {}
    return {
        "type": "whisper-log-mel",
        "n_fft": N_FFT,
        "hop_samples": HOP,
        "n_mels": N_MELS,
        "window_seconds": MAX_SECONDS,
        "pad": pad,
        "leading_zeros_invariant": pad == "left",
        "encoder": "smart-turn-v3.2 (Whisper-tiny encoder, int8)",
        "encoder_sha256": sha256_of(encoder),
        "encoder_outputs": list(outputs),
        **gate,
    }


def parity_error(head: HeadEnsemble, path: Path, seed: int = 0) -> float:
    """Largest |logit| difference between the file and the torch head applied to the
    file's own `features`, over lengths from the shortest to past the window, a
    batch of two and (speaker-normalised) random speaker statistics."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    dim = head.input_dim
    worst = 0.0
    lengths = ((1, MIN_SAMPLES), (1, SAMPLE_RATE_HZ), (2, 3 * SAMPLE_RATE_HZ), (1, 9 * 16000))
    for batch, length in lengths:
        waveform = (0.1 * rng.standard_normal((batch, length))).astype(np.float32)
        inputs = {INPUT_NAME: waveform}
        context = None
        if head.options.speaker_normalise:
            count = rng.integers(0, 8, batch).astype(np.float32)
            base = rng.standard_normal((batch, dim)).astype(np.float32)
            context = (base * count[:, None], (base**2 + 1) * count[:, None], count)
            inputs |= dict(zip(SPEAKER_INPUT_NAMES, context, strict=True))
        logits, features = session.run(["logits", FEATURES_OUTPUT_NAME], inputs)
        with torch.no_grad():
            torch_context = tuple(torch.from_numpy(c) for c in context) if context else None
            reference, _ = head.eval_forward(torch.from_numpy(features), torch_context)
        worst = max(worst, float(np.abs(logits - reference.numpy()).max()))
    return worst


def export_accurate(
    encoder: Path,
    head: HeadEnsemble,
    classes: Sequence[str],
    calibration: OodCalibration,
    path: Path,
    name: str,
    training: dict,
    gate_outputs: Sequence[str] = (),
) -> Path:
    """Writes the accurate model file (atomically, after the parity check); returns it.
    With `gate_outputs`, the file outputs their vectors for the gate (`encoder_then`)."""
    metadata = describe_accurate(encoder, head, classes, name, calibration, training, gate_outputs)
    proto = accurate_graph(encoder, head, gate_outputs)
    return write_model(
        proto, metadata, path, lambda written: parity_error(head, written), PARITY_TOLERANCE
    )
