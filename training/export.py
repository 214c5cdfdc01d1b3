"""Export a trained MSAC-SERNet to one self-describing ONNX file.

The graph holds the frontend, so the runtime feeds raw waveform; the metadata
holds labels, limits and the OOD calibration. Export is checked against torch
before the file is written to its final name.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
import torch

from streamser.metadata import (
    METADATA_KEY,
    ModelMetadata,
    OodCalibration,
    SpeakerNormalisationInfo,
)
from streamser.model import FEATURES_OUTPUT_NAME, SPEAKER_INPUT_NAMES
from training.model.msac_sernet import ExportWrapper, MSACSERNet, SpeakerExportWrapper

if TYPE_CHECKING:
    from training.experiment import Partition

log = logging.getLogger(__name__)

OPSET = 18
INPUT_NAME = "waveform"
OUTPUT_NAMES = ("logits", "embedding")
MAX_EXPORT_SECONDS = 600
PARITY_TOLERANCE = 1e-4


def export_onnx(model: MSACSERNet, metadata: ModelMetadata, path: Path) -> Path:
    """Writes `path` atomically after a parity check; returns it.

    Raises:
        RuntimeError: onnxruntime and torch disagree by more than PARITY_TOLERANCE.
    """
    model = model.eval()
    rate = metadata.sample_rate
    # Batch 2 in the example: torch.export specialises dimensions of size 1.
    example: tuple[torch.Tensor, ...] = (torch.randn(2, rate) * 0.1,)
    batch = torch.export.Dim("batch", min=1, max=1024)
    samples = torch.export.Dim("samples", min=model.min_samples, max=rate * MAX_EXPORT_SECONDS)
    dynamic_shapes: tuple[dict, ...] = ({0: batch, 1: samples},)
    input_names, output_names = [INPUT_NAME], list(OUTPUT_NAMES)
    wrapper: torch.nn.Module = ExportWrapper(model)
    speaker_normalised = metadata.speaker_normalisation is not None
    if speaker_normalised:
        wrapper = SpeakerExportWrapper(model)
        example += speaker_context(2, model.config.pooled_dim, seed=1)
        dynamic_shapes += ({0: batch}, {0: batch}, {0: batch})
        input_names += SPEAKER_INPUT_NAMES
        output_names.append(FEATURES_OUTPUT_NAME)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            wrapper.eval(),
            example,
            input_names=input_names,
            output_names=output_names,
            opset_version=OPSET,
            dynamo=True,
            dynamic_shapes=dynamic_shapes,
            verbose=False,
        )
    proto = program.model_proto
    entry = proto.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = metadata.to_json()
    proto.producer_name = "streamser"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        onnx.save_model(proto, tmp_name)
        worst = parity_error(model, Path(tmp_name), rate, speaker_normalised)
        if worst > PARITY_TOLERANCE:
            raise RuntimeError(f"export parity check failed: max |logit difference| {worst:.2e}")
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    log.info("exported %s (parity %.1e)", path, worst)
    return path


def speaker_context(batch: int, dim: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Plausible speaker statistics (a few utterances' worth) for tracing and parity."""
    generator = torch.Generator().manual_seed(seed)
    count = torch.randint(0, 8, (batch,), generator=generator).float()
    features = torch.randn(batch, dim, generator=generator)
    return features * count[:, None], (features.square() + 1) * count[:, None], count


def parity_error(
    model: MSACSERNet, onnx_path: Path, rate: int, speaker_normalised: bool, seed: int = 0
) -> float:
    """Largest |logit| difference between torch and onnxruntime over several lengths.

    Includes the shortest input the model accepts, a batch of two and, for a
    speaker-normalised model, speaker statistics.
    """
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    generator = np.random.default_rng(seed)
    worst = 0.0
    for batch, length in ((1, model.min_samples), (1, rate // 2), (2, 3 * rate), (1, 8 * rate)):
        waveform = (0.1 * generator.standard_normal((batch, length))).astype(np.float32)
        inputs = {INPUT_NAME: waveform}
        context = None
        if speaker_normalised:
            context = speaker_context(batch, model.config.pooled_dim, seed)
            inputs |= {n: c.numpy() for n, c in zip(SPEAKER_INPUT_NAMES, context, strict=True)}
        ours = session.run(["logits"], inputs)[0]
        with torch.no_grad():
            extra = {"context": context} if context is not None else {}
            reference = model(torch.from_numpy(waveform), **extra).logits.numpy()
        worst = max(worst, float(np.abs(ours - reference).max()))
    return worst


def describe_model(
    model: torch.nn.Module,
    name: str,
    calibration: OodCalibration,
    max_seconds: float,
    training: dict,
) -> ModelMetadata:
    """The metadata every exported model carries; `training` adds what its run knows.

    `model` is MSAC-SERNet or the adaptation network: anything with `min_samples` and
    a `config` holding `classes`, `frontend` and `embedding_dim`.

    The date and code version are stamped here, so every export path records them.
    """
    from datetime import date

    import streamser
    from streamser.constants import SAMPLE_RATE_HZ

    speaker = None
    if getattr(model.config, "speaker_normalise", False):
        speaker = SpeakerNormalisationInfo(
            feature_dim=model.config.pooled_dim,
            prior_utterances=model.config.speaker_prior_utterances,
        )
    return ModelMetadata(
        name=name,
        labels=model.config.classes,
        sample_rate=SAMPLE_RATE_HZ,
        min_seconds=model.min_samples / SAMPLE_RATE_HZ,
        max_seconds=max_seconds,
        frontend=model.config.frontend.to_metadata(),
        ood=calibration,
        training={
            **training,
            "date": date.today().isoformat(),
            "code_version": streamser.__version__,
        },
        embedding_dim=model.config.embedding_dim,
        speaker_normalisation=speaker,
    )


def features_calibration(
    model: MSACSERNet, data: Partition, method: str, tpr: float, seed: int
) -> OodCalibration:
    """The gate of a speaker-normalised model reads its pooled features.

    Normalisation pulls every utterance towards the training data: a noise burst,
    standardised against its own statistics, lands among speech in the embedding.
    The pooled features before normalisation keep it apart. The model trains with a
    telephone line among its augmentations, so the reference set and the calibration
    hold every utterance twice, wideband and through the line: a call is not
    out of distribution for being a call.
    """
    from training.calibration import calibrate, embedding_params
    from training.crossval import through_telephone
    from training.data import AudioCache
    from training.predict import pooled_features, predict, speakers_of
    from training.trainer import MAX_EVAL_SECONDS

    def both_channels(utterances):
        audio = AudioCache(utterances).audio
        return audio + through_telephone(audio), speakers_of(utterances) * 2

    train_audio, _ = both_channels(data.train)
    train_features = pooled_features(model, train_audio, MAX_EVAL_SECONDS)
    labels = np.array([model.config.classes.index(u.emotion) for u in data.train] * 2)
    params = embedding_params(train_features, labels, len(model.config.classes), seed)
    validation_audio, speakers = both_channels(data.validation)
    logits, _ = predict(model, validation_audio, MAX_EVAL_SECONDS, speakers)
    features = pooled_features(model, validation_audio, MAX_EVAL_SECONDS)
    return calibrate(logits, features, method=method, tpr=tpr, params=params, vector="features")


DEFAULT_OOD_METHOD = "mahalanobis"
"""The gate's score unless told otherwise: of the six methods docs/OOD.md measures on
the bundled model, the one with the lowest FPR at 95 % TPR on both semantic-shift
sets, and (with kNN) the only ones below maximum softmax probability on each."""


def export_checkpoint(
    checkpoint_path: Path,
    output: Path,
    name: str | None = None,
    ood_method: str | None = None,
    ood_tpr: float = 0.95,
    extra_training_info: dict | None = None,
    data: Partition | None = None,
) -> Path:
    """Checkpoint -> calibrated, self-describing ONNX model.

    The OOD threshold is calibrated on the run's validation split (held-out speakers
    the checkpoint was selected on, never its test split). `ood_method` None takes
    DEFAULT_OOD_METHOD (an adaptation checkpoint's default is its own). `data` is the
    run's partition when it was not drawn from its config (a recipe's own split).
    """
    from training.adapt.checkpoint import export_adapt_checkpoint, is_adapt_checkpoint
    from training.calibration import calibrate, embedding_params
    from training.checkpoint import load_checkpoint
    from training.config import TrainConfig
    from training.data import AudioCache
    from training.experiment import partition
    from training.predict import predict, speakers_of
    from training.trainer import MAX_EVAL_SECONDS

    if is_adapt_checkpoint(checkpoint_path):  # `streamser adapt` output (DIDAN network)
        return export_adapt_checkpoint(
            checkpoint_path, output, name, ood_method, ood_tpr, extra_training_info
        )
    ood_method = ood_method or DEFAULT_OOD_METHOD
    checkpoint = load_checkpoint(checkpoint_path)
    model = checkpoint.build_model()
    config = TrainConfig.from_dict(checkpoint.train_config)
    data = data or partition(config)
    if model.config.speaker_normalise:
        calibration = features_calibration(model, data, ood_method, ood_tpr, config.seed)
    else:
        logits, embeddings = predict(
            model, AudioCache(data.validation).audio, MAX_EVAL_SECONDS, speakers_of(data.validation)
        )
        _, train_embeddings = predict(
            model, AudioCache(data.train).audio, MAX_EVAL_SECONDS, speakers_of(data.train)
        )
        train_labels = np.array([model.config.classes.index(u.emotion) for u in data.train])
        params = embedding_params(
            train_embeddings, train_labels, len(model.config.classes), config.seed
        )
        calibration = calibrate(logits, embeddings, method=ood_method, tpr=ood_tpr, params=params)
    training = {
        "corpora": sorted({u.corpus for u in data.train}),
        "protocol": "speaker-disjoint train/validation/test"
        + (", test sentences held out" if data.held_out_texts else ""),
        "utterances": {
            "train": len(data.train),
            "validation": len(data.validation),
            "test": len(data.test),
        },
        "loss": config.loss,
        "msac": [head.name + ":" + head.mode for head in model.config.attributes],
        "best_epoch": checkpoint.history.get("best_epoch"),
        "validation_ua": checkpoint.history.get("best_ua"),
        "seed": config.seed,
        **(extra_training_info or {}),
    }
    name = name or f"msac-sernet-{len(model.config.classes)}class"
    metadata = describe_model(model, name, calibration, MAX_EVAL_SECONDS, training)
    return export_onnx(model, metadata, output)
