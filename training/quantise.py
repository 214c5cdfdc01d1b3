"""A static int8 copy of a fast-tier model, and the accuracy check that decides if it ships.

ONNX Runtime's static quantisation in QDQ form: weights int8 per output channel,
activations uint8 with ranges calibrated on training audio. Only convolutions
with more than one input channel are quantised (the residual blocks, where the
time goes); the front end stays float:

- the STFT as a fixed `conv1d` reads the waveform itself, and an 8-bit waveform
  (about 48 dB of range) would erase the quiet parts the log-mel keeps;
- the stem's convolutions read one channel (the log-mel image), where int8
  kernels measured slower than float ones on this model;
- the head (speaker normalisation, AM-softmax) is a few small matrix products.

The rule (`check`): the int8 copy ships only if unweighted accuracy changes by at
most `MAX_UA_CHANGE` (1 point) on EmoDB leave-one-speaker-out and on SynthEmo.
On EmoDB each fold's model (a cross-validation row's `foldNN/best.pt`) is exported,
quantised on its own fold's training audio and scored on its own test speaker,
float against int8, wideband and through a telephone line; on SynthEmo the
bundled model and its int8 copy are scored on the corpus. `bin/make-default-model`
runs it and ships the copy, with a gate fitted on its own features (`calibrate_gate`),
when it passes; `bin/quantise` runs it alone (`training.int8_report`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streamser.audio.formats import int16_to_float
from streamser.constants import SAMPLE_RATE_HZ
from streamser.metadata import METADATA_KEY, OodCalibration
from streamser.model import SPEAKER_INPUT_NAMES, fit_length

if TYPE_CHECKING:
    from training.experiment import Partition

log = logging.getLogger(__name__)

MAX_UA_CHANGE = 0.01
"""The largest change of unweighted accuracy (either way) an int8 model may bring."""
CALIBRATION_UTTERANCES = 96
"""Utterances whose activations set the int8 ranges (half of them through a telephone line)."""
CALIBRATION_MAX_SECONDS = 8.0


def quantisable_convs(model) -> list[str]:
    """Names of the Conv nodes worth int8: those whose weight has more than one input
    channel (the STFT and the stem read one channel and stay float)."""
    weights = {t.name: tuple(t.dims) for t in model.graph.initializer}
    names = []
    for node in model.graph.node:
        if node.op_type != "Conv" or len(node.input) < 2:
            continue
        shape = weights.get(node.input[1])
        if shape is not None and len(shape) >= 2 and shape[1] > 1:
            names.append(node.name)
    return names


class _Calibration:
    """Feeds calibration utterances to ONNX Runtime's calibrator, one at a time."""

    def __init__(self, model, audio: Sequence[np.ndarray]) -> None:
        inputs = {i.name: i for i in model.graph.input}
        metadata = _metadata(model)
        minimum = round(metadata["min_seconds"] * metadata["sample_rate"])
        limit = int(CALIBRATION_MAX_SECONDS * SAMPLE_RATE_HZ)
        self._items = []
        for samples in audio:
            waveform = np.ascontiguousarray(fit_length(int16_to_float(samples), minimum, limit))
            feed = {"waveform": waveform[None]}
            for name in SPEAKER_INPUT_NAMES:
                if name in inputs:
                    dims = inputs[name].type.tensor_type.shape.dim
                    shape = (1, *(d.dim_value for d in dims[1:]))
                    feed[name] = np.zeros(shape, np.float32)
            self._items.append(feed)
        self._next = iter(self._items)

    def get_next(self) -> dict | None:
        return next(self._next, None)

    def rewind(self) -> None:
        self._next = iter(self._items)


def _metadata(model) -> dict:
    props = {p.key: p.value for p in model.metadata_props}
    return json.loads(props[METADATA_KEY])


def quantise(
    source: Path, output: Path, audio: Sequence[np.ndarray], reduce_range: bool = True
) -> Path:
    """`source` -> its static int8 (QDQ) copy at `output`, ranges calibrated on `audio`
    (canonical int16 utterances). The copy keeps the model's metadata, its name
    marked `-int8`.

    `reduce_range` keeps weights to 7 bits: ONNX Runtime's uint8 x int8 kernels can
    saturate on x86 CPUs without VNNI, and a bundled model runs on every CPU."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(source))
    with tempfile.TemporaryDirectory(prefix="streamser-quantise-") as work:
        prepared = Path(work) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        chosen = quantisable_convs(onnx.load(str(prepared)))
        if not chosen:  # an empty list would mean "every node" to ONNX Runtime
            raise ValueError(f"{source}: no convolution over several channels to quantise")
        reader = _Calibration(model, audio)
        CalibrationDataReader.register(_Calibration)
        quantize_static(
            str(prepared),
            str(output),
            reader,
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=reduce_range,
            nodes_to_quantize=chosen,
        )
    quantised = onnx.load(str(output))
    metadata = _metadata(model)
    metadata["name"] = f"{metadata['name']}-int8"
    del quantised.metadata_props[:]
    for prop in model.metadata_props:
        value = json.dumps(metadata) if prop.key == METADATA_KEY else prop.value
        quantised.metadata_props.add(key=prop.key, value=value)
    onnx.save(quantised, str(output))
    return output


def calibrate_gate(path: Path, data: Partition, seed: int) -> OodCalibration:
    """The gate of a quantised copy, fitted as `training.export.features_calibration`
    fits its float model's, but on the copy's own features through the runtime: int8
    moves the pooled features a little, and the Mahalanobis precision magnifies that in
    the scores. Method, TPR and vector stay those of the float model."""
    from training.export import both_channels
    from training.ood.calibration import calibrate, embedding_params
    from training.ood.evaluate_model import RuntimePredictor

    predictor = RuntimePredictor(path)
    current = predictor.calibration
    train_audio, train_speakers = both_channels(data.train)
    _, train_vectors = predictor.predict(train_audio, train_speakers)
    labels = np.array([predictor.labels.index(u.emotion) for u in data.train] * 2)
    params = embedding_params(train_vectors, labels, len(predictor.labels), seed)
    validation_audio, validation_speakers = both_channels(data.validation)
    logits, vectors = predictor.predict(validation_audio, validation_speakers)
    return calibrate(
        logits, vectors, current.method, current.tpr, params=params, vector=current.vector
    )


def replace_gate(path: Path, calibration: OodCalibration) -> Path:
    """Rewrites `path`'s metadata with `calibration` as its gate; returns `path`."""
    import onnx

    from streamser.metadata import ModelMetadata

    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            metadata = ModelMetadata.from_json(prop.value, str(path))
            prop.value = dataclasses.replace(metadata, ood=calibration).to_json()
    onnx.save(model, str(path))
    return path


def calibration_sample(
    audio: Sequence[np.ndarray], count: int = CALIBRATION_UTTERANCES, seed: int = 0
) -> list[np.ndarray]:
    """`count` utterances drawn without replacement; every second one through an
    8 kHz G.711 line (calls are what the model hears)."""
    from training.folds import through_telephone

    rng = np.random.default_rng(seed)
    chosen = [audio[i] for i in rng.permutation(len(audio))[:count]]
    return [through_telephone([clip])[0] if i % 2 else clip for i, clip in enumerate(chosen)]


def score(path: Path, audio, speakers, classes: Sequence[str]) -> dict[str, list[int]]:
    """Predicted class indices per channel (wideband, telephone), as cross-validation
    scores a fold: speaker statistics from the speaker's other utterances."""
    from training.folds import through_telephone
    from training.predict import EmotionPredictor

    predictor = EmotionPredictor(path)
    order = [predictor.labels.index(c) for c in classes]
    out = {}
    for channel, clips in (("wideband", audio), ("telephone", through_telephone(audio))):
        logits, _ = predictor.predict(clips, speakers)
        out[channel] = logits[:, order].argmax(axis=1).tolist()
    return out


def _ua(true: Sequence[int], predicted: Sequence[int]) -> float:
    from training.metrics import unweighted_accuracy

    return float(unweighted_accuracy(true, predicted))


def export_fold(checkpoint: Path, output: Path) -> Path:
    """A fold's checkpoint as an ONNX model (the gate is not what is measured here)."""
    from streamser.metadata import OodCalibration
    from training.checkpoint import load_checkpoint
    from training.onnx_writer import describe_model, export_onnx
    from training.trainer import MAX_EVAL_SECONDS

    model = load_checkpoint(checkpoint).build_model().eval()
    gate = OodCalibration(method="energy", threshold=-1e9, tpr=1.0)
    metadata = describe_model(model, checkpoint.parent.name, gate, MAX_EVAL_SECONDS, {})
    return export_onnx(model, metadata, output)


def check_folds(
    row: Path, emodb: Path, classes: Sequence[str], work: Path, reduce_range: bool = True
) -> dict:
    """EmoDB LOSO, float against int8: each fold's model quantised on its fold's
    training audio and scored on its test speaker."""
    from training.data import AudioCache
    from training.folds import CrossValidationPlan, load_plan_data, speaker_folds

    plan = CrossValidationPlan(data=(f"emodb={emodb}",), classes=tuple(classes))
    tested, _ = load_plan_data(plan)
    folds = []
    for fold in speaker_folds(tested, plan.folds, plan.seed):
        checkpoint = row / f"fold{fold.index:02d}" / "best.pt"
        if not checkpoint.exists():
            log.warning("no %s: fold left out", checkpoint)
            continue
        started = time.perf_counter()
        held_out = set(fold.test_speakers) | set(fold.validation_speakers)
        train = [u for u in tested if u.speaker not in held_out]
        test = [u for u in tested if u.speaker in fold.test_speakers]
        float_path = export_fold(checkpoint, work / f"fold{fold.index:02d}.onnx")
        int8_path = work / f"fold{fold.index:02d}-int8.onnx"
        audio = calibration_sample(AudioCache(train).audio)
        quantise(float_path, int8_path, audio, reduce_range)
        audio, speakers = AudioCache(test).audio, [u.speaker for u in test]
        true = [classes.index(u.emotion) for u in test]
        result = {"fold": fold.index, "test_speakers": list(fold.test_speakers)}
        for kind, path in (("float", float_path), ("int8", int8_path)):
            for channel, predicted in score(path, audio, speakers, classes).items():
                result[f"{kind}_{channel}_ua"] = _ua(true, predicted)
        result["seconds"] = round(time.perf_counter() - started, 1)
        log.info("fold %s: %s", fold.index, result)
        folds.append(result)
    return _summary(folds)


def _summary(folds: list[dict]) -> dict:
    out: dict = {"folds": folds}
    for channel in ("wideband", "telephone"):
        base = float(np.mean([f[f"float_{channel}_ua"] for f in folds]))
        quant = float(np.mean([f[f"int8_{channel}_ua"] for f in folds]))
        out[channel] = {"float_ua": base, "int8_ua": quant, "change": quant - base}
    return out


def check_corpus(float_path: Path, int8_path: Path, manifest: Path, classes) -> dict:
    """One corpus (SynthEmo's manifest), float against int8, every utterance."""
    from training.data import AudioCache
    from training.experiment import load_data

    utterances = [u for u in load_data((str(manifest),)) if u.emotion in classes]
    audio, speakers = AudioCache(utterances).audio, [u.speaker for u in utterances]
    true = [list(classes).index(u.emotion) for u in utterances]
    out: dict = {"utterances": len(utterances)}
    scored = {kind: score(p, audio, speakers, classes) for kind, p in
              (("float", float_path), ("int8", int8_path))}  # fmt: skip
    for channel in ("wideband", "telephone"):
        base, quant = (_ua(true, scored[k][channel]) for k in ("float", "int8"))
        out[channel] = {"float_ua": base, "int8_ua": quant, "change": quant - base}
    return out


def ships(report: dict) -> bool:
    """Every UA change, on every corpus and channel, within MAX_UA_CHANGE."""
    changes = [
        part[channel]["change"]
        for part in (report["emodb_loso"], report["synthemo"])
        for channel in ("wideband", "telephone")
    ]
    return all(abs(change) <= MAX_UA_CHANGE + 1e-9 for change in changes)


def timing(paths: dict[str, Path], seconds: float = 3.0, reps: int = 50) -> dict[str, float]:
    """p50 ms of one `infer` at `seconds` of the demo recording, one thread, models
    interleaved rep by rep so that a busy machine slows them alike."""
    from streamser.audio import load_mono
    from streamser.data import demo_audio_path
    from streamser.model import EmotionModel, ModelOptions

    demo = int16_to_float(load_mono(demo_audio_path()))[: int(seconds * SAMPLE_RATE_HZ)]
    models = {
        name: EmotionModel.load(path, ModelOptions(threads=1)) for name, path in paths.items()
    }
    times: dict[str, list[float]] = {name: [] for name in models}
    for rep in range(reps + 3):
        for name, model in models.items():
            began = time.perf_counter()
            model.infer(demo)
            if rep >= 3:
                times[name].append((time.perf_counter() - began) * 1000)
    return {name: round(float(np.median(t)), 3) for name, t in times.items()}


def check(
    float_path: Path,
    int8_path: Path,
    emodb: Path,
    cv_row: Path,
    synthemo: Path,
    work: Path,
    reduce_range: bool = True,
) -> dict:
    """The shipping rule's evidence for an int8 copy of a fast model, with `"ships"`:
    its inference time against the float model, SynthEmo (the corpus) and EmoDB
    leave-one-speaker-out (`cv_row`, the recipe's cross-validation row of the model's
    variant), each wideband and through a telephone line."""
    from streamser.labels import FOUR_CLASS

    classes = list(FOUR_CLASS)
    report = {
        "model": str(float_path),
        "int8_model": str(int8_path),
        "rule": f"|UA change| <= {MAX_UA_CHANGE} on EmoDB LOSO and SynthEmo, each channel",
        "reduce_range": reduce_range,
        "inference_ms_3s_p50": timing({"float": float_path, "int8": int8_path}),
        "synthemo": check_corpus(float_path, int8_path, synthemo, classes),
        "emodb_loso": check_folds(cv_row, emodb, classes, work, reduce_range),
    }
    report["ships"] = ships(report)
    return report
