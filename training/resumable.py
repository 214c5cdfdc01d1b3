"""A recipe's training run, done once.

Recipes (cross-validation folds, the bundled model's runs) are run again and again while
they are being developed; each must keep a finished run, resume a stopped one, and train
again when its settings changed. The settings are read from the run's own checkpoint, so a
changed setting can never leave a stale model in place.
"""

from __future__ import annotations

import logging
from pathlib import Path

from training.checkpoint import load_checkpoint
from training.config import TrainConfig
from training.experiment import Partition

log = logging.getLogger(__name__)

FINISHED_MARKER = "trained"


def train_once(config: TrainConfig, data: Partition | None = None) -> Path:
    """Trains `config` unless its output folder already holds a finished run of the same
    settings; returns the best checkpoint. `data` as for `make_trainer`."""
    from training.encoder.distill import make_trainer

    output = Path(config.output_dir)
    finished = output / FINISHED_MARKER
    last = output / "last.pt"
    previous = load_checkpoint(last) if last.exists() else None
    if previous is not None and not same_settings(previous.train_config, config.to_dict()):
        log.info("%s: trained with other settings, training again", output)
        finished.unlink(missing_ok=True)
        previous = None
    if previous is not None and finished.exists():
        return output / "best.pt"
    trainer = make_trainer(config, data)
    if previous is not None:
        trainer.resume(previous)
    best = trainer.fit()
    finished.touch()
    return best


def same_settings(saved: dict, wanted: dict) -> bool:
    """Whether two training configs make the same model; where the files go does not count."""
    return _settings(saved) == _settings(wanted)


def _settings(config: dict) -> dict:
    # A checkpoint holds its config as saved by torch (tuples stay tuples); compare both
    # in one form, through TrainConfig, so that defaults added later count as equal.
    settings = TrainConfig.from_dict(config).to_dict()
    settings.pop("output_dir")
    return settings
