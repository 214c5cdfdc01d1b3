"""Adaptation checkpoints and their export to the runtime's model file.

An adaptation checkpoint holds the DIDAN network, the run's settings, which
corpora were source and target, and the model's outputs on the (unlabelled)
target utterances, so export calibrates the OOD gate on the domain the model was
adapted to without reloading any audio. `training.export.export_checkpoint`
hands these files here, so `streamser export` takes them like a training one; the
ONNX file is written by `training.onnx_writer`, as for a training checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from streamser.errors import StreamserError
from training.adapt.network import DidanConfig, DidanNet
from training.onnx_writer import describe_model, export_onnx

FORMAT = "streamser.adapt/1"
MAX_SECONDS = 30.0


@dataclass
class AdaptCheckpoint:
    """Attributes:
    adapt_config: `AdaptConfig.to_dict()`.
    model_config: `DidanConfig.to_dict()`.
    model_state: The network's state dict.
    source, target: Corpus name, utterance count and (source only) training UA.
    history: Loss history of the run.
    target_logits, target_embeddings: Outputs on the target utterances (OOD calibration).
    metrics: Measured after training without a target label: source training UA, the
        target's label shares, gate coverage (`training.adapt.diagnostics`).
    inputs: For an encoder-feature network, what computes its input
        (`training.adapt.features.encoder_input`); empty for log-mel (and for checkpoints
        written before it was recorded).
    """

    adapt_config: dict[str, Any]
    model_config: dict[str, Any]
    model_state: dict[str, Any]
    source: dict[str, Any]
    target: dict[str, Any]
    history: list[dict]
    target_logits: np.ndarray
    target_embeddings: np.ndarray
    metrics: dict[str, Any]
    inputs: dict[str, Any] = field(default_factory=dict)

    def build_model(self) -> DidanNet:
        model = DidanNet(DidanConfig.from_dict(self.model_config))
        model.load_state_dict(self.model_state)
        return model.eval()


def save_adapt_checkpoint(checkpoint: AdaptCheckpoint, path: Path) -> Path:
    """Atomic write; returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"format": FORMAT, **checkpoint.__dict__}, tmp)
    os.replace(tmp, path)
    return path


def _read(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise StreamserError(f"{path}: no such checkpoint") from None
    except Exception as error:
        raise StreamserError(f"{path}: not a streamser checkpoint ({error})") from None


def is_adapt_checkpoint(path: Path) -> bool:
    data = _read(Path(path))
    return isinstance(data, dict) and data.get("format") == FORMAT


def load_adapt_checkpoint(path: Path) -> AdaptCheckpoint:
    data = dict(_read(Path(path)))
    if data.pop("format", None) != FORMAT:
        raise StreamserError(f"{path}: not an adaptation checkpoint")
    return AdaptCheckpoint(**data)


def export_adapt_checkpoint(
    checkpoint_path: Path,
    output: Path,
    name: str | None = None,
    ood_method: str | None = None,
    ood_tpr: float = 0.95,
    extra_training_info: dict | None = None,
) -> Path:
    """Adaptation checkpoint -> calibrated, self-describing ONNX model.

    The OOD threshold is calibrated on every target utterance (no label read), the
    domain the model was adapted to; the metadata's `training` section names source and
    target and the network's input. The default method is energy: the checkpoint keeps
    no labelled embeddings from which Mahalanobis or kNN parameters could be made.

    A log-mel network is exported through torch (its graph computes its own maps); an
    encoder-feature network is written after the accurate tier's front end, encoder and
    vector (`training.adapt.encoder_export`), with the encoder it was trained on.

    Raises:
        StreamserError: An encoder-feature checkpoint whose encoder is not the one in use.
    """
    ood_method = ood_method or "energy"
    from training.ood.calibration import calibrate

    checkpoint = load_adapt_checkpoint(checkpoint_path)
    features = checkpoint.model_config.get("features", "log-mel")
    model = checkpoint.build_model()
    config = checkpoint.adapt_config
    calibration = calibrate(
        checkpoint.target_logits, checkpoint.target_embeddings, method=ood_method, tpr=ood_tpr
    )
    method = config["method"]
    name = name or f"didan-{method}-{checkpoint.source['name']}-to-{checkpoint.target['name']}"
    training = {
        "corpora": [checkpoint.source["name"], checkpoint.target["name"]],
        "source": checkpoint.source,
        "target": checkpoint.target,
        "protocol": "cross-corpus adaptation: labelled source, unlabelled target; "
        "fixed step budget, no target label used for training or selection; "
        "OOD threshold calibrated on the target utterances",
        "method": method,
        "features": features,
        "network": NETWORKS[features],
        "adapt": config,
        "metrics": checkpoint.metrics,
        "seed": config["seed"],
        **(extra_training_info or {}),
    }
    if features == "log-mel":
        metadata = describe_model(model, name, calibration, MAX_SECONDS, training)
        return export_onnx(model, metadata, output)
    from training.adapt.encoder_export import export_adapted
    from training.adapt.features import encoder_input
    from training.encoder.fetch import encoder_path

    encoder = encoder_path()
    inputs = checkpoint.inputs or encoder_input(encoder)  # older checkpoints: the defaults
    current = encoder_input(encoder)["encoder_sha256"]
    if inputs["encoder_sha256"] != current:
        raise StreamserError(
            f"{checkpoint_path}: adapted on vectors of the encoder with SHA-256 "
            f"{inputs['encoder_sha256'][:12]}, but the encoder in use ({encoder}) is "
            f"{current[:12]}: its vectors would differ"
        )
    training["input"] = {k: v for k, v in inputs.items() if k != "features"}
    outputs, pad = inputs["outputs"], inputs["pad"]
    return export_adapted(encoder, outputs, pad, model, calibration, output, name, training)


NETWORKS = {
    "log-mel": "DIDAN regression network (conv + FC over pooled log-mel)",
    "encoder": "DIDAN regression network's FC layers over the frozen Whisper-tiny encoder's "
    "utterance vector (mean and std over speech frames, batch-normalised)",
}
"""The metadata's `training.network`, per input."""
