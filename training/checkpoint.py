"""Checkpoints: everything needed to resume training, export or evaluate a model."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from streamser.errors import StreamserError
from training.model.msac_sernet import ModelConfig, MSACSERNet


@dataclass
class Checkpoint:
    train_config: dict[str, Any]
    model_config: dict[str, Any]
    labels: dict[str, Any]
    model_state: dict[str, Any]
    optimizer_state: dict[str, Any]
    scheduler_state: dict[str, Any]
    epoch: int
    history: dict[str, Any]

    def build_model(self) -> MSACSERNet:
        model = MSACSERNet(ModelConfig.from_dict(self.model_config))
        model.load_state_dict(self.model_state)
        return model.eval()


def save_checkpoint(checkpoint: Checkpoint, path: Path) -> None:
    """Atomic: a run killed mid-write leaves the previous checkpoint intact."""
    tmp = path.with_suffix(".tmp")
    torch.save(asdict(checkpoint), tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> Checkpoint:
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise StreamserError(f"{path}: no such checkpoint") from None
    except Exception as error:
        raise StreamserError(f"{path}: not a streamser checkpoint ({error})") from None
    try:
        return Checkpoint(**data)
    except TypeError:
        raise StreamserError(f"{path}: not a streamser checkpoint (unexpected contents)") from None
