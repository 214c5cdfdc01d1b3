"""The encoder's graph with its inner tensors as outputs, behind the ONNX front end.

Smart Turn's file ends in an end-of-turn classifier; what the accurate tier wants
is inside it. Whisper-tiny's encoder turns the 800 log-mel frames into 400 frames
of 384 values through two convolutions and four transformer layers; Smart Turn
then pools them with learned attention weights. These tensors (names as in the
file) can be exposed:

- `POOLED`: the attention-pooled 384-d vector the classifier reads;
- `LAYER_OUTPUTS[i]`: the residual stream after layer i, [batch, 400, 384]
  (the last one before the encoder's final layer norm);
- `FRAMES`: the final layer-normalised frames, [batch, 400, 384].

Everything not needed for the requested outputs (the classifier) is cut away.

`vector_model` turns the chosen tensors into one vector per utterance inside the
graph: the pooled vector as it is, frame tensors as their mean and standard
deviation over the frames that hold speech. Those frames are counted from the
first non-zero sample of the (last 8 s of the) waveform, so leading zeros, which
the front end adds anyway, change nothing: utterances padded with zeros on the
left to one length batch exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, compose, helper, numpy_helper, utils

from training.encoder.frontend import FEATURES_NAME, WINDOW_SAMPLES, whisper_frontend

POOLED = "sum_1_DequantizeLinear_Output"
FRAMES = "layer_norm_8"
LAYER_OUTPUTS = ("add_146", "add_268", "add_390", "add_512")
ENCODER_FRAMES = 400
SAMPLES_PER_FRAME = WINDOW_SAMPLES // ENCODER_FRAMES  # 320: 20 ms
WIDTH = 384


def encoder_model(path: Path, outputs: Sequence[str] = (POOLED,)) -> onnx.ModelProto:
    """The encoder from `input_features` to `outputs`, nothing more.

    Raises:
        ValueError: An output that is not a tensor of the graph.
    """
    model = onnx.load(str(path))
    known = {name for node in model.graph.node for name in node.output}
    unknown = [name for name in outputs if name not in known]
    if unknown:
        raise ValueError(f"{path}: no tensor named {', '.join(unknown)}")
    inferred = onnx.shape_inference.infer_shapes(model)
    return utils.Extractor(inferred).extract_model([FEATURES_NAME], list(outputs))


def waveform_model(
    path: Path, outputs: Sequence[str] = (POOLED,), pad: str = "left", prefix: str = ""
) -> onnx.ModelProto:
    """Front end and encoder as one model: `waveform` [batch, samples] -> `outputs`.

    `prefix` renames every encoder tensor but the outputs (to splice the result
    into a larger graph without name clashes).
    """
    encoder = encoder_model(path, outputs)
    frontend = whisper_frontend(pad)
    if prefix:
        encoder = compose.add_prefix(encoder, prefix)
        mapped = {prefix + name: name for name in outputs}
        for node in encoder.graph.node:
            node.output[:] = [mapped.get(name, name) for name in node.output]
            node.input[:] = [mapped.get(name, name) for name in node.input]
        for value in encoder.graph.output:
            value.name = mapped.get(value.name, value.name)
    features = prefix + FEATURES_NAME
    frontend = compose.add_prefix(frontend, prefix + "frontend_") if prefix else frontend
    if prefix:
        for value in frontend.graph.input:
            value.name = "waveform"
        for node in frontend.graph.node:
            node.input[:] = [
                "waveform" if name == prefix + "frontend_waveform" else name for name in node.input
            ]
            node.output[:] = [
                features if name == prefix + "frontend_" + FEATURES_NAME else name
                for name in node.output
            ]
        for value in frontend.graph.output:
            value.name = features
    align_opsets(frontend, encoder)
    return compose.merge_models(frontend, encoder, io_map=[(features, features)])


def vector_name(output: str) -> str:
    """The per-utterance vector `vector_model` makes of an encoder output."""
    return output if output == POOLED else f"{output}_stats"


def vector_model(path: Path, outputs: Sequence[str], pad: str = "left") -> onnx.ModelProto:
    """`waveform` [batch, samples] -> one [batch, dim] output per encoder output
    (`vector_name`): 384 values for POOLED, 768 (mean, then standard deviation) for
    a frame tensor.

    Raises:
        ValueError: Frame statistics with `pad="right"` (only left padding keeps the
            speech frames countable from the leading zeros).
    """
    model = waveform_model(path, outputs, pad)
    frames = [name for name in outputs if name != POOLED]
    if not frames:
        return model
    if pad != "left":
        raise ValueError("frame statistics need pad='left'")
    graph = model.graph
    constants = {
        "stats/minus_window": np.array([-WINDOW_SAMPLES], np.int64),
        "stats/end": np.array([np.iinfo(np.int64).max], np.int64),
        "stats/axis1": np.array([1], np.int64),
        "stats/zero": np.array(0.0, np.float32),
        "stats/frame_samples_less_one": np.array(SAMPLES_PER_FRAME - 1, np.int64),
        "stats/frame_samples": np.array(SAMPLES_PER_FRAME, np.int64),
        "stats/one_frame": np.array(1, np.int64),
        "stats/all_frames": np.array(ENCODER_FRAMES, np.int64),
        "stats/positions": np.arange(ENCODER_FRAMES, dtype=np.int64)[None, :],
        "stats/last_axis": np.array([-1], np.int64),
    }
    graph.initializer.extend(numpy_helper.from_array(v, name=k) for k, v in constants.items())
    node = helper.make_node
    nodes = [
        node("Slice", ["waveform", "stats/minus_window", "stats/end", "stats/axis1"], ["s/win"]),
        node("Equal", ["s/win", "stats/zero"], ["s/is_zero"]),
        node("Not", ["s/is_zero"], ["s/nonzero"]),
        node("Cast", ["s/nonzero"], ["s/nonzero_f"], to=TensorProto.FLOAT),
        node("ArgMax", ["s/nonzero_f"], ["s/first"], axis=1, keepdims=0),
        node("Shape", ["s/win"], ["s/length"], start=1, end=2),
        node("Sub", ["s/length", "s/first"], ["s/speech"]),
        node("Add", ["s/speech", "stats/frame_samples_less_one"], ["s/speech_up"]),
        node("Div", ["s/speech_up", "stats/frame_samples"], ["s/frames_up"]),
        node("Clip", ["s/frames_up", "stats/one_frame", "stats/all_frames"], ["s/valid"]),
        node("Unsqueeze", ["s/valid", "stats/last_axis"], ["s/valid_col"]),
        node("Sub", ["stats/all_frames", "s/valid_col"], ["s/start"]),
        node("GreaterOrEqual", ["stats/positions", "s/start"], ["s/mask_b"]),
        node("Cast", ["s/mask_b"], ["s/mask2"], to=TensorProto.FLOAT),
        node("Unsqueeze", ["s/mask2", "stats/last_axis"], ["s/mask"]),
        node("Cast", ["s/valid_col"], ["s/count"], to=TensorProto.FLOAT),
    ]
    for name in frames:
        p = f"s/{name}/"
        nodes += [
            node("Mul", [name, "s/mask"], [p + "masked"]),
            node("ReduceSum", [p + "masked", "stats/axis1"], [p + "sum"], keepdims=0),
            node("Div", [p + "sum", "s/count"], [p + "mean"]),
            node("Unsqueeze", [p + "mean", "stats/axis1"], [p + "mean3"]),
            node("Sub", [name, p + "mean3"], [p + "centred"]),
            node("Mul", [p + "centred", "s/mask"], [p + "centred_masked"]),
            node("Mul", [p + "centred_masked", p + "centred_masked"], [p + "squares"]),
            node("ReduceSum", [p + "squares", "stats/axis1"], [p + "sum2"], keepdims=0),
            node("Div", [p + "sum2", "s/count"], [p + "variance"]),
            node("Sqrt", [p + "variance"], [p + "std"]),
            node("Concat", [p + "mean", p + "std"], [vector_name(name)], axis=1),
        ]
    graph.node.extend(nodes)
    pooled = {o.name: o for o in graph.output}
    del graph.output[:]
    for name in outputs:
        shape = ["batch", 2 * WIDTH]
        graph.output.append(
            pooled[name]
            if name == POOLED
            else helper.make_tensor_value_info(vector_name(name), TensorProto.FLOAT, shape)
        )
    onnx.checker.check_model(model)
    return model


def align_opsets(*models: onnx.ModelProto) -> None:
    """Give every model the union of their opset imports (merge_models requires it)."""
    versions: dict[str, int] = {}
    for model in models:
        for opset in model.opset_import:
            versions[opset.domain] = max(versions.get(opset.domain, 0), opset.version)
    for model in models:
        del model.opset_import[:]
        model.opset_import.extend(onnx.helper.make_opsetid(d, v) for d, v in versions.items())
        model.ir_version = max(m.ir_version for m in models)
