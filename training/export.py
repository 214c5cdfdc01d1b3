"""Export a training checkpoint to a calibrated, self-describing ONNX model.

The OOD gate is calibrated on the run's own data, then the network and its metadata
go to `training.onnx_writer`, which writes the file after a parity check against
torch. Adaptation checkpoints (`streamser adapt`) are handed to
`training.adapt.checkpoint`, so `streamser export` takes both kinds.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streamser.metadata import OodCalibration
from training.adapt.checkpoint import export_adapt_checkpoint, is_adapt_checkpoint
from training.model.msac_sernet import MSACSERNet
from training.onnx_writer import describe_model, export_onnx

if TYPE_CHECKING:
    from training.experiment import Partition


def both_channels(utterances) -> tuple[list[np.ndarray], list[str]]:
    """The utterances' audio twice, wideband and through a telephone line, with their
    speakers: what a gate that must accept calls is fitted and calibrated on."""
    from training.crossval import through_telephone
    from training.data import AudioCache
    from training.predict import speakers_of

    audio = AudioCache(utterances).audio
    return audio + through_telephone(audio), speakers_of(utterances) * 2


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
    from training.ood.calibration import calibrate, embedding_params
    from training.predict import pooled_features, predict
    from training.trainer import MAX_EVAL_SECONDS

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
    from training.checkpoint import load_checkpoint
    from training.config import TrainConfig
    from training.data import AudioCache
    from training.experiment import partition
    from training.ood.calibration import calibrate, embedding_params
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
