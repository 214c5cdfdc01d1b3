"""A stand-in for the accurate tier's encoder: Smart Turn's interface, a tiny graph.

The real encoder (`bin/fetch-encoder`) runs a 4-layer transformer for about 70 ms
per utterance; tests that train heads on a corpus of a hundred utterances need
something cheaper with the same interface: input `input_features` [batch, 80, 800],
the frame tensors `add_146` ... `layer_norm_8` [batch, 400, 384] and the pooled
`sum_1_DequantizeLinear_Output` [batch, 384], under the same names. A fixed
random strided convolution over the log-mel frames makes the frames, so
different audio gives different vectors. Select it with `STREAMSER_ENCODER`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

WIDTH = 384
FRAMES = 400


def write_tiny_encoder(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    weights = {
        "conv.weight": (rng.standard_normal((WIDTH, 80, 2)) / np.sqrt(160)).astype(np.float32),
        "norm.scale": np.ones(WIDTH, np.float32),
        "norm.bias": np.zeros(WIDTH, np.float32),
        "two": np.array(2.0, np.float32),
        "time_axis": np.array([1], np.int64),
    }
    node = helper.make_node
    nodes = [
        node("Conv", ["input_features", "conv.weight"], ["conv"], strides=[2]),
        node("Transpose", ["conv"], ["add_146"], perm=[0, 2, 1]),
        node("Tanh", ["add_146"], ["add_268"]),
        node("Mul", ["add_268", "two"], ["add_390"]),
        node("Add", ["add_390", "add_146"], ["add_512"]),
        node("LayerNormalization", ["add_512", "norm.scale", "norm.bias"], ["layer_norm_8"]),
        node(
            "ReduceMean",
            ["layer_norm_8", "time_axis"],
            ["sum_1_DequantizeLinear_Output"],
            keepdims=0,
        ),
    ]
    frames = ["batch", FRAMES, WIDTH]
    graph = helper.make_graph(
        nodes,
        "tiny_encoder",
        [helper.make_tensor_value_info("input_features", TensorProto.FLOAT, ["batch", 80, 800])],
        [
            helper.make_tensor_value_info(
                "sum_1_DequantizeLinear_Output", TensorProto.FLOAT, ["batch", WIDTH]
            ),
            *[
                helper.make_tensor_value_info(name, TensorProto.FLOAT, frames)
                for name in ("add_146", "add_268", "add_390", "add_512", "layer_norm_8")
            ],
        ],
        [numpy_helper.from_array(value, name=name) for name, value in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
