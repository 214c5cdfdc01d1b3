"""Tiny emotion models built with the `onnx` package alone, for the runtime tests.

The runtime suite has to pass where only the runtime and its test extra are
installed: no torch, so no `training.export`. These graphs honour the same
model-file contract as an exported model (`streamser.model`, `streamser.metadata`):
a float32 `waveform` [batch, samples] of any length from `min_seconds` on,
`logits` and a unit-length `embedding`, the speaker statistics inputs and the
`features` output when speaker-normalised, and metadata whose OOD calibration is
computed on the built graph itself.

The network is small and fixed, never trained. Eight Hann-windowed band filters (a
strided Conv) give per-frame log band energies; their mean and standard deviation
over the utterance are the pooled features. These are standardised (by population
statistics, or by the stream's own as in `training.model.layers.SpeakerNormalisation`),
then a seeded random projection, tanh and L2 normalisation give the embedding,
and cosine logits against random class directions give the logits. Different
audio gives different scores; identical audio, identical scores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from streamser.constants import SAMPLE_RATE_HZ
from streamser.labels import FOUR_CLASS
from streamser.metadata import (
    METADATA_KEY,
    ModelMetadata,
    OodCalibration,
    SpeakerNormalisationInfo,
)
from streamser.model import FEATURES_OUTPUT_NAME, INPUT_NAME, OUTPUT_NAMES, SPEAKER_INPUT_NAMES
from streamser.ood import QUANTILE_POINTS, energy, max_logit, msp, threshold_for_tpr
from support.speech import voiced

OPSET = 18
IR_VERSION = 8  # the oldest IR that opset 18 allows: any onnxruntime the runtime takes reads it
FRAME_SAMPLES = 400  # 25 ms
HOP_SAMPLES = 160  # 10 ms
MIN_SAMPLES = 8 * HOP_SAMPLES  # as an exported MSAC-SERNet: 80 ms
MAX_SECONDS = 30.0
BAND_CENTRES_HZ = (150.0, 300.0, 600.0, 1000.0, 1600.0, 2500.0, 4000.0, 6000.0)
FEATURE_DIM = 2 * len(BAND_CENTRES_HZ)  # mean and standard deviation of each band
EMBEDDING_DIM = 128
LOGIT_SCALE = 10.0
LOG_FLOOR = 1e-6
PRIOR_UTTERANCES = 4.0
OOD_METHOD = "energy"
OOD_TPR = 0.95


def build_tiny_model(
    path: Path,
    name: str = "tiny",
    labels: tuple[str, ...] = FOUR_CLASS,
    speaker_normalised: bool = False,
    seed: int = 0,
) -> Path:
    """Writes a tiny model with valid streamser metadata to `path`; returns it.

    The OOD gate is calibrated on synthetic voiced utterances (`support.speech`):
    a constant added to every logit shifts their energy so that the threshold that
    accepts `OOD_TPR` of them is 0.0 (to float32 rounding), and the metadata carries
    their percentiles for every logit method, as an exported model's calibration does.
    """
    rng = np.random.default_rng(seed)
    weights = {
        "filters": _band_filters(),
        "band_pairs": np.repeat(np.eye(len(BAND_CENTRES_HZ), dtype=np.float32), 2, axis=0),
        "hidden_w": (rng.standard_normal((FEATURE_DIM, EMBEDDING_DIM)) / np.sqrt(FEATURE_DIM)),
        "hidden_b": 0.5 * rng.standard_normal(EMBEDDING_DIM),
        "classes_w": _unit_columns(rng.standard_normal((EMBEDDING_DIM, len(labels)))),
    }
    audio = _calibration_audio(seed)
    pooled = _run(_features_graph(weights), audio)["pooled"]
    weights["population_mean"] = pooled.mean(axis=0)
    weights["population_var"] = pooled.var(axis=0)
    weights["logit_bias"] = np.zeros(len(labels))
    outputs = _run(_full_graph(weights, labels, speaker_normalised), audio)
    quantile = threshold_for_tpr(_percentiles(energy(outputs["logits"])), OOD_TPR)
    weights["logit_bias"] = np.full(len(labels), -quantile)
    proto = _full_graph(weights, labels, speaker_normalised)
    logits = _run(proto, audio)["logits"]
    quantiles = {
        "energy": _percentiles(energy(logits)),
        "msp": _percentiles(msp(logits)),
        "max_logit": _percentiles(max_logit(logits)),
    }
    if abs(threshold_for_tpr(quantiles[OOD_METHOD], OOD_TPR)) > 1e-4:
        raise AssertionError("the logit bias did not put the OOD threshold at zero")
    metadata = ModelMetadata(
        name=name,
        labels=tuple(labels),
        sample_rate=SAMPLE_RATE_HZ,
        min_seconds=MIN_SAMPLES / SAMPLE_RATE_HZ,
        max_seconds=MAX_SECONDS,
        frontend={
            "type": "band-energy-statistics",
            "frame_samples": FRAME_SAMPLES,
            "hop_samples": HOP_SAMPLES,
            "band_centres_hz": list(BAND_CENTRES_HZ),
            "log_floor": LOG_FLOOR,
        },
        ood=OodCalibration(method=OOD_METHOD, threshold=0.0, tpr=OOD_TPR, id_quantiles=quantiles),
        training={"weights": "seeded random, never trained", "seed": seed},
        embedding_dim=EMBEDDING_DIM,
        speaker_normalisation=(
            SpeakerNormalisationInfo(feature_dim=FEATURE_DIM, prior_utterances=PRIOR_UTTERANCES)
            if speaker_normalised
            else None
        ),
    )
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata.to_json()
    proto.producer_name = "streamser-tests"
    onnx.checker.check_model(proto, full_check=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(proto, str(path))
    return path


def _band_filters() -> np.ndarray:
    """[2 * bands, 1, FRAME_SAMPLES] Hann-windowed cosine and sine kernels per band."""
    n = np.arange(FRAME_SAMPLES)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / FRAME_SAMPLES)
    kernels = []
    for centre in BAND_CENTRES_HZ:
        phase = 2 * np.pi * centre * n / SAMPLE_RATE_HZ
        kernels += [window * np.cos(phase), window * np.sin(phase)]
    return np.stack(kernels)[:, None, :]


def _unit_columns(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=0, keepdims=True)


def _calibration_audio(seed: int) -> list[np.ndarray]:
    """In-distribution utterances for the gate: voiced speech of varied pitch, length, level."""
    rng = np.random.default_rng(seed + 1)
    return [
        rng.uniform(0.3, 1.2)
        * voiced(
            seconds=float(rng.uniform(0.5, 4.0)),
            f0_hz=float(rng.uniform(90.0, 260.0)),
            seed=seed + 100 + i,
        )
        for i in range(40)
    ]


def _percentiles(scores: np.ndarray) -> list[float]:
    return [float(q) for q in np.quantile(scores, np.linspace(0.0, 1.0, QUANTILE_POINTS))]


def _run(proto: onnx.ModelProto, audio: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Every output of `proto` over `audio`, one utterance at a time as the runtime runs it.

    A speaker-normalised graph gets empty speaker statistics: a stream's first utterance.
    """
    import onnxruntime

    session = onnxruntime.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    inputs = {i.name for i in session.get_inputs()}
    rows: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for waveform in audio:
        feed = {INPUT_NAME: np.asarray(waveform, dtype=np.float32)[None, :]}
        if SPEAKER_INPUT_NAMES[0] in inputs:
            feed |= {
                "speaker_sum": np.zeros((1, FEATURE_DIM), np.float32),
                "speaker_sum_squares": np.zeros((1, FEATURE_DIM), np.float32),
                "speaker_count": np.zeros(1, np.float32),
            }
        for name, value in zip(names, session.run(names, feed), strict=True):
            rows[name].append(value[0].astype(np.float64))
    return {name: np.stack(values) for name, values in rows.items()}


class _Graph:
    """A few helpers that keep the node list readable."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def constant(self, name: str, value) -> str:
        array = np.asarray(value)
        array = array.astype(np.int64 if array.dtype.kind in "iu" else np.float32)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, output: str | None = None, **attributes) -> str:
        self._count += 1
        output = output or f"{op_type.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attributes))
        return output


def _pooled(g: _Graph, weights: dict) -> str:
    """waveform [batch, samples] -> pooled features [batch, FEATURE_DIM]."""
    signal = g.op("Unsqueeze", INPUT_NAME, g.constant("axis_1", [1]))  # [batch, 1, samples]
    filtered = g.op(
        "Conv", signal, g.constant("filters", weights["filters"]), strides=[HOP_SAMPLES]
    )  # [batch, 2 * bands, frames]
    squared = g.op("Mul", filtered, filtered)
    per_frame = g.op("Transpose", squared, perm=[0, 2, 1])  # [batch, frames, 2 * bands]
    power = g.op("MatMul", per_frame, g.constant("band_pairs", weights["band_pairs"]))
    log_power = g.op("Log", g.op("Add", power, g.constant("log_floor", LOG_FLOOR)))
    mean = g.op("ReduceMean", log_power, "axis_1", keepdims=1)  # [batch, 1, bands]
    centred = g.op("Sub", log_power, mean)
    variance = g.op("ReduceMean", g.op("Mul", centred, centred), "axis_1", keepdims=0)
    std = g.op("Sqrt", g.op("Add", variance, g.constant("variance_floor", 1e-6)))
    flat_mean = g.op("Squeeze", mean, "axis_1")
    return g.op("Concat", flat_mean, std, axis=1, output="pooled")


def _features_graph(weights: dict) -> onnx.ModelProto:
    """The frontend alone, to measure the population statistics of its features."""
    g = _Graph()
    pooled = _pooled(g, weights)
    return _model(g, [_waveform_input()], [_output(pooled, FEATURE_DIM)])


def _full_graph(
    weights: dict, labels: tuple[str, ...], speaker_normalised: bool
) -> onnx.ModelProto:
    g = _Graph()
    pooled = _pooled(g, weights)
    mean = g.constant("population_mean", weights["population_mean"])
    var = g.constant("population_var", weights["population_var"])
    inputs = [_waveform_input()]
    outputs = []
    if speaker_normalised:
        # SpeakerNormalisation's formula: a prior worth PRIOR_UTTERANCES utterances, the
        # stream's earlier utterances and this one.
        inputs += [
            helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", FEATURE_DIM])
            for name in SPEAKER_INPUT_NAMES[:2]
        ]
        inputs.append(
            helper.make_tensor_value_info(SPEAKER_INPUT_NAMES[2], TensorProto.FLOAT, ["batch"])
        )
        prior = g.constant("prior", PRIOR_UTTERANCES)
        count = g.op("Unsqueeze", SPEAKER_INPUT_NAMES[2], "axis_1")  # [batch, 1]
        weight = g.op("Add", count, g.constant("one_plus_prior", 1.0 + PRIOR_UTTERANCES))
        prior_sum = g.op("Mul", prior, mean)
        prior_squares = g.op("Mul", prior, g.op("Add", var, g.op("Mul", mean, mean)))
        total = g.op("Add", g.op("Add", prior_sum, SPEAKER_INPUT_NAMES[0]), pooled)
        squares = g.op("Mul", pooled, pooled)
        total_squares = g.op("Add", g.op("Add", prior_squares, SPEAKER_INPUT_NAMES[1]), squares)
        mean = g.op("Div", total, weight)
        second_moment = g.op("Div", total_squares, weight)
        var = g.op(
            "Max",
            g.op("Sub", second_moment, g.op("Mul", mean, mean)),
            g.constant("variance_min", 1e-4),
        )
        outputs.append(_output(g.op("Identity", pooled, output=FEATURES_OUTPUT_NAME), FEATURE_DIM))
    else:
        var = g.op("Add", var, g.constant("population_floor", 1e-6))
    standardised = g.op("Div", g.op("Sub", pooled, mean), g.op("Sqrt", var))
    hidden = g.op(
        "Tanh",
        g.op(
            "Add",
            g.op("MatMul", standardised, g.constant("hidden_w", weights["hidden_w"])),
            g.constant("hidden_b", weights["hidden_b"]),
        ),
    )
    norm = g.op("Sqrt", g.op("ReduceSumSquare", hidden, "axis_1", keepdims=1))
    norm = g.op("Max", norm, g.constant("norm_min", 1e-12))
    embedding = g.op("Div", hidden, norm, output=OUTPUT_NAMES[1])
    cosines = g.op("MatMul", embedding, g.constant("classes_w", weights["classes_w"]))
    logits = g.op(
        "Add",
        g.op("Mul", cosines, g.constant("logit_scale", LOGIT_SCALE)),
        g.constant("logit_bias", weights["logit_bias"]),
        output=OUTPUT_NAMES[0],
    )
    outputs = [_output(logits, len(labels)), _output(embedding, EMBEDDING_DIM), *outputs]
    return _model(g, inputs, outputs)


def _waveform_input() -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", "samples"])


def _output(name: str, dim: int) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", dim])


def _model(g: _Graph, inputs: list, outputs: list) -> onnx.ModelProto:
    graph = helper.make_graph(g.nodes, "tiny_emotion_model", inputs, outputs, g.initializers)
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    return proto
