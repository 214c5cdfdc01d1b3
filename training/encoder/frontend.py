"""Whisper's log-mel features as ONNX operators: waveform in, `input_features` out.

The encoder was trained on the features of `transformers.WhisperFeatureExtractor`
(as the wheel's numpy code computes them): an 8 s window at 16 kHz, the waveform
standardised over the window, a centred STFT (400-sample periodic Hann window, hop
160, reflect padding), the power spectrum through 80 Slaney mel filters, log10
with a 1e-10 floor, the last frame dropped, values clamped to 8 below the window's
maximum and scaled by (x + 4) / 4. Inside the model graph, the runtime feeds the
accurate model a waveform exactly as it feeds the fast one.

Where the utterance sits in the window is the one choice: Smart Turn was trained
with the speech at the window's end (zeros before it), `pad="left"`; Whisper itself
pads after the speech, `pad="right"`. Longer inputs keep their last 8 s (left) or
first 8 s (right). Because the padding is zeros and the standardisation runs over
the whole window, padding an utterance with zeros on the same side before the graph
changes nothing: utterances of different lengths batch exactly.

The DFT is a strided convolution with fixed cosine and sine kernels, which ONNX
Runtime runs as one matrix product. The kernels are computed by a few nodes from
index ranges (ONNX Runtime folds them once, when the session starts) rather than
stored: 640 kB less in every model file.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SAMPLE_RATE_HZ = 16000
WINDOW_SAMPLES = 8 * SAMPLE_RATE_HZ
N_FFT = 400
HOP = 160
N_MELS = 80
FRAMES = WINDOW_SAMPLES // HOP  # 800, after the last frame is dropped
MEL_FLOOR = 1e-10
NORM_EPS = 1e-7
DYNAMIC_RANGE = 8.0
PAD_SIDES = ("left", "right")
OPSET = 18
FEATURES_NAME = "input_features"


def slaney_mel_filters(
    rate: int = SAMPLE_RATE_HZ, n_fft: int = N_FFT, n_mels: int = N_MELS
) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] triangular filters on the Slaney mel scale, area-normalised
    (librosa's `filters.mel(norm="slaney")`, which Whisper uses), 0 Hz to Nyquist."""

    def to_mel(hz: np.ndarray) -> np.ndarray:
        hz = np.asarray(hz, dtype=np.float64)
        linear = 3.0 * hz / 200.0
        log = 15.0 + np.log(np.maximum(hz, 1e-12) / 1000.0) * 27.0 / np.log(6.4)
        return np.where(hz >= 1000.0, log, linear)

    def to_hz(mel: np.ndarray) -> np.ndarray:
        linear = 200.0 * mel / 3.0
        log = 1000.0 * np.exp(np.log(6.4) / 27.0 * (mel - 15.0))
        return np.where(mel >= 15.0, log, linear)

    edges = to_hz(np.linspace(to_mel(0.0), to_mel(rate / 2), n_mels + 2))
    bins = np.linspace(0, rate // 2, n_fft // 2 + 1)
    slopes = edges[None, :] - bins[:, None]
    widths = np.diff(edges)
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    filters = np.maximum(0.0, np.minimum(down, up))
    filters *= 2.0 / (edges[2:] - edges[:-2])[None, :]
    return filters.T


def dft_kernels(n_fft: int = N_FFT) -> np.ndarray:
    """[2 * (n_fft // 2 + 1), 1, n_fft]: periodic-Hann-windowed cosines, then sines."""
    window = np.hanning(n_fft + 1)[:-1]
    t = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)[:, None]
    angle = 2.0 * np.pi * k * t / n_fft
    kernels = np.concatenate([np.cos(angle), -np.sin(angle)]) * window
    return kernels[:, None, :].astype(np.float32)


def whisper_frontend(pad: str = "left", input_name: str = "waveform") -> onnx.ModelProto:
    """The front end as a model: `input_name` float32 [batch, samples] ->
    `input_features` float32 [batch, 80, 800].

    Raises:
        ValueError: `pad` is not one of PAD_SIDES.
    """
    if pad not in PAD_SIDES:
        raise ValueError(f"pad {pad!r}: expected one of {', '.join(PAD_SIDES)}")
    bins = N_FFT // 2 + 1
    constants = {
        "window": np.array([WINDOW_SAMPLES], np.int64),
        "zero": np.array([0], np.int64),
        "one": np.array([1], np.int64),
        "axis1": np.array([1], np.int64),
        "axes12": np.array([1, 2], np.int64),
        "reflect_pads": np.array([0, N_FFT // 2, 0, N_FFT // 2], np.int64),
        "eps": np.array(NORM_EPS, np.float32),
        "floor": np.array(MEL_FLOOR, np.float32),
        "inv_ln10": np.array(1.0 / np.log(10.0), np.float32),
        "range": np.array(DYNAMIC_RANGE, np.float32),
        "four": np.array(4.0, np.float32),
        "fft_length": np.array(N_FFT, np.float32),
        "bins_f": np.array(bins, np.float32),
        "zero_s": np.array(0.0, np.float32),
        "one_s": np.array(1.0, np.float32),
        "half": np.array(0.5, np.float32),
        "two_pi_over_n": np.array(2.0 * np.pi / N_FFT, np.float32),
        "mel": slaney_mel_filters().astype(np.float32),
        "bins": np.array([bins], np.int64),
        "bins2": np.array([2 * bins], np.int64),
        "frames": np.array([FRAMES], np.int64),
        "zero_f": np.array(0.0, np.float32),
    }
    node = helper.make_node
    if pad == "left":  # the last 8 s, zeros before
        constants["minus_window"] = np.array([-WINDOW_SAMPLES], np.int64)
        constants["big"] = np.array([np.iinfo(np.int64).max], np.int64)
        crop = node("Slice", [input_name, "minus_window", "big", "axis1"], ["cropped"])
    else:  # the first 8 s, zeros after
        crop = node("Slice", [input_name, "zero", "window", "axis1"], ["cropped"])
    before, after = ("missing", "zero") if pad == "left" else ("zero", "missing")
    nodes = [
        crop,
        node("Shape", ["cropped"], ["length"], start=1, end=2),
        node("Sub", ["window", "length"], ["missing"]),
        node("Concat", ["zero", before, "zero", after], ["pads"], axis=0),
        node("Pad", ["cropped", "pads", "zero_f"], ["padded"], mode="constant"),
        # Zero mean, unit variance over the whole window (padding included).
        node("ReduceMean", ["padded", "axis1"], ["mean"], keepdims=1),
        node("Sub", ["padded", "mean"], ["centred"]),
        node("Mul", ["centred", "centred"], ["squared"]),
        node("ReduceMean", ["squared", "axis1"], ["variance"], keepdims=1),
        node("Add", ["variance", "eps"], ["variance_eps"]),
        node("Sqrt", ["variance_eps"], ["std"]),
        node("Div", ["centred", "std"], ["normalised"]),
        node("Pad", ["normalised", "reflect_pads"], ["reflected"], mode="reflect"),
        node("Unsqueeze", ["reflected", "one"], ["signal"]),
        # The windowed DFT kernels, [2 * bins, 1, n_fft]; k * t is reduced modulo n_fft
        # before the cosine, so every angle stays below 2 pi, exact in float32.
        node("Range", ["zero_s", "fft_length", "one_s"], ["t"]),
        node("Range", ["zero_s", "bins_f", "one_s"], ["k"]),
        node("Unsqueeze", ["k", "one"], ["k_col"]),
        node("Unsqueeze", ["t", "zero"], ["t_row"]),
        node("Mul", ["k_col", "t_row"], ["kt"]),
        node("Mod", ["kt", "fft_length"], ["kt_mod"], fmod=1),
        node("Mul", ["kt_mod", "two_pi_over_n"], ["angle"]),
        node("Mul", ["t", "two_pi_over_n"], ["window_angle"]),
        node("Cos", ["window_angle"], ["window_cos"]),
        node("Mul", ["window_cos", "half"], ["window_half"]),
        node("Sub", ["half", "window_half"], ["hann"]),  # periodic Hann
        node("Cos", ["angle"], ["cosines"]),
        node("Sin", ["angle"], ["sines"]),
        node("Neg", ["sines"], ["minus_sines"]),
        node("Concat", ["cosines", "minus_sines"], ["waves"], axis=0),
        node("Mul", ["waves", "hann"], ["kernels2"]),
        node("Unsqueeze", ["kernels2", "one"], ["kernels"]),
        node("Conv", ["signal", "kernels"], ["spectrum"], strides=[HOP]),
        node("Slice", ["spectrum", "zero", "bins", "one"], ["real"]),
        node("Slice", ["spectrum", "bins", "bins2", "one"], ["imaginary"]),
        node("Mul", ["real", "real"], ["real2"]),
        node("Mul", ["imaginary", "imaginary"], ["imaginary2"]),
        node("Add", ["real2", "imaginary2"], ["power"]),
        node("MatMul", ["mel", "power"], ["mel_power"]),
        node("Max", ["mel_power", "floor"], ["floored"]),
        node("Log", ["floored"], ["ln"]),
        node("Mul", ["ln", "inv_ln10"], ["log10"]),
        node("Slice", ["log10", "zero", "frames", "axis2"], ["log_frames"]),
        node("ReduceMax", ["log_frames", "axes12"], ["peak"], keepdims=1),
        node("Sub", ["peak", "range"], ["lowest"]),
        node("Max", ["log_frames", "lowest"], ["clamped"]),
        node("Add", ["clamped", "four"], ["shifted"]),
        node("Div", ["shifted", "four"], [FEATURES_NAME]),
    ]
    constants["axis2"] = np.array([2], np.int64)
    initializers = [numpy_helper.from_array(v, name=k) for k, v in constants.items()]
    inputs = [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", "samples"])]
    shape = ["batch", N_MELS, FRAMES]
    outputs = [helper.make_tensor_value_info(FEATURES_NAME, TensorProto.FLOAT, shape)]
    graph = helper.make_graph(nodes, "whisper_log_mel", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model
