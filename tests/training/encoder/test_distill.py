"""Distillation: the fast network learns from a teacher head on unlabelled speech too."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import torch

from training.channel import TELEPHONE_BAND_HZ
from training.config import TrainConfig
from training.encoder.distill import UNLABELLED, DistillationTrainer, make_trainer
from training.encoder.distill_recipe import VARIANT
from training.encoder.fetch import ENCODER_ENV
from training.experiment import partition
from training.trainer import Trainer


def _config(tiny_corpus, tmp_path, distill: dict | None) -> TrainConfig:
    return TrainConfig.from_dict(
        {
            "data": [str(tiny_corpus)],
            "output_dir": str(tmp_path / "run"),
            "epochs": 1,
            "crop_seconds": 0.5,
            "batch_size": 16,
            "threads": 1,
            "speaker_normalise": True,
            **({"distill": distill} if distill else {}),
        }
    )


def test_a_distilled_run_hears_unlabelled_speech_through_the_teachers_soft_labels(
    tiny_corpus, tiny_encoder, tmp_path, monkeypatch
):
    monkeypatch.setenv(ENCODER_ENV, str(tiny_encoder))
    distill = {
        "unlabelled": [str(tiny_corpus)],  # read without its labels
        "per_speaker": 2,
        "ratio": 0.5,
        "teacher": {"epochs": 3, "hidden": 16, "embedding_dim": 8},
        "embeddings": str(tmp_path / "vectors"),
    }
    config = _config(tiny_corpus, tmp_path, distill)
    assert config.distill.unlabelled == (str(tiny_corpus),)
    data = partition(config)
    trainer = make_trainer(config, data)
    assert isinstance(trainer, DistillationTrainer)
    codes = trainer.batches.codes
    unlabelled = [c for c in codes if c["emotion"] == UNLABELLED]
    assert 0 < len(unlabelled) <= 0.5 * len(data.train)
    assert len(codes) == len(data.train) + len(unlabelled)
    assert [c["row"] for c in codes] == list(range(len(codes)))
    assert trainer.teacher.shape == (len(codes), len(config.classes))
    assert torch.isfinite(trainer.teacher).all()

    trainer.fit()
    epoch = json.loads((tmp_path / "run" / "metrics.json").read_text())[0]
    assert np.isfinite(epoch["loss_distill"]) and epoch["loss_distill"] >= 0.0
    assert np.isfinite(epoch["loss_emotion"])


def test_without_distillation_the_plain_trainer_is_used(tiny_corpus, tmp_path):
    config = _config(tiny_corpus, tmp_path, None)
    assert type(make_trainer(config, partition(config))) is Trainer


def test_the_telephone_band_distillation_variant_changes_the_front_end_alone():
    def config(name: str) -> TrainConfig:
        return TrainConfig.from_toml(VARIANT.parent / f"{name}.toml", data=("emodb=x",))

    full_band, telephone_band = config("fast-distilled"), config("fast-distilled-telephone-band")
    band = (telephone_band.frontend.f_min_hz, telephone_band.frontend.f_max_hz)
    assert band == TELEPHONE_BAND_HZ
    assert dataclasses.replace(telephone_band, frontend=full_band.frontend) == full_band
