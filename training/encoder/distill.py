"""Distillation: the fast network learns from the accurate tier as well as from labels.

`TrainConfig.distill` switches it on for any run, cross-validation folds included
(`training.crossval` builds a `DistillationTrainer` for such a row). Per run:

1. a teacher head (`training.encoder.head`) is trained on the frozen encoder's
   vectors of the run's own training data, its epoch chosen on the run's own
   validation speakers, so a fold's teacher never hears the fold's test speaker;
2. unlabelled speech joins the training set: real voices from Debian packages
   (`training.real_speech`) and any corpus named, its labels unread;
3. every training utterance gets the teacher's logits (each speaker normalised with
   their own utterances, as the head was trained);
4. the network trains on the usual loss for labelled utterances plus, for all of
   them, the KL divergence from the teacher's softened distribution to its own
   (Hinton et al. 2015), scaled by the temperature's square.

The targets are per utterance, computed once on the clean recording; the network
still sees its augmented crops.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from training.config import DistillConfig, TrainConfig
from training.corpora import Utterance
from training.data import LabelSpace
from training.encoder.head import ATTRIBUTES, HeadOptions, head_outputs, train_head
from training.encoder.row import (
    CACHED_CHANNELS,
    channel_data,
    select,
    training_channels,
    utterance_embeddings,
)
from training.experiment import Partition
from training.trainer import Trainer

log = logging.getLogger(__name__)

DEBIAN = "debian"
UNLABELLED = -1
"""The emotion code of an utterance whose label is not read."""


def unlabelled_speech(options: DistillConfig, limit: int, seed: int) -> list[Utterance]:
    """The unlabelled corpora, at most `per_speaker` utterances per speaker and `limit`
    in all, drawn with `seed`."""
    from training.experiment import load_data
    from training.real_speech import asterisk_prompts, hedgewars_lines

    pool: list[Utterance] = []
    for spec in options.unlabelled:
        pool += asterisk_prompts() + hedgewars_lines() if spec == DEBIAN else load_data((spec,))
    rng = np.random.default_rng(seed)
    chosen: list[Utterance] = []
    for speaker in sorted({u.speaker for u in pool}):
        members = [u for u in pool if u.speaker == speaker]
        take = rng.permutation(len(members))[: options.per_speaker]
        chosen += [members[i] for i in sorted(take)]
    if len(chosen) > limit:
        chosen = [chosen[i] for i in sorted(rng.permutation(len(chosen))[:limit])]
    return chosen


def teacher_logits(
    options: DistillConfig,
    classes: Sequence[str],
    data: Partition,
    unlabelled: list[Utterance],
    seed: int,
) -> np.ndarray:
    """The teacher's logits for `data.train` then `unlabelled`, [n, classes]."""
    head_options = HeadOptions.from_dict({"seed": seed, **options.teacher})
    everyone = data.train + data.validation + unlabelled
    vectors = utterance_embeddings(everyone, head_options.pad, Path(options.embeddings))
    labels = LabelSpace.build(data.train, classes, ATTRIBUTES)
    train_rows = np.arange(len(data.train))
    validation_rows = len(data.train) + np.arange(len(data.validation))

    def rows(indices: np.ndarray, channels):
        return channel_data(everyone, indices, vectors, classes, labels, head_options, channels)

    train = rows(train_rows, training_channels(head_options))
    head, record = train_head(train, rows(validation_rows, CACHED_CHANNELS), classes, head_options)
    log.info(
        "teacher: validation UA %.3f (epochs %s)", record["validation_ua"], record["best_epochs"]
    )
    wideband = select(vectors["wideband"], head_options.outputs)
    first = len(data.train) + len(data.validation)
    parts = [(data.train, wideband[: len(data.train)]), (unlabelled, wideband[first:])]
    return np.concatenate(
        [head_outputs(head, x, [u.speaker for u in chosen])[0] for chosen, x in parts if chosen]
    )


class DistillationTrainer(Trainer):
    """A `Trainer` whose training set also holds unlabelled utterances and whose loss
    adds the distillation term (`TrainConfig.distill` must be set)."""

    def __init__(self, config: TrainConfig, data: Partition) -> None:
        options = config.distill
        if options is None:
            raise ValueError("a DistillationTrainer needs TrainConfig.distill")
        limit = int(options.ratio * len(data.train))
        unlabelled = [
            replace(u, emotion=config.classes[0])  # a placeholder the label space accepts
            for u in unlabelled_speech(options, limit, config.seed)
        ]
        logits = teacher_logits(options, config.classes, data, unlabelled, config.seed)
        labelled = len(data.train)
        super().__init__(config, replace(data, train=data.train + unlabelled))
        for index, codes in enumerate(self.batches.codes):
            codes["row"] = index
            if index >= labelled:
                codes["emotion"] = UNLABELLED
        self.teacher = torch.from_numpy(logits.astype(np.float32))
        log.info("distillation: %d labelled, %d unlabelled utterances", labelled, len(unlabelled))

    def batch_loss(
        self, batch: dict[str, torch.Tensor], epoch: int, coefficient: float
    ) -> tuple[torch.Tensor, dict[str, float]]:
        options = self.config.distill
        assert options is not None
        output = self.train_model(
            batch["waveform"],
            None,  # the margin is applied below, to labelled rows only
            coefficient,
            batch_speakers=batch["speaker"] if self.config.speaker_normalise else None,
        )
        labels = batch["emotion"]
        labelled = labels != UNLABELLED
        loss = output.logits.new_zeros(())
        parts: dict[str, float] = {}
        if labelled.any():
            logits = output.logits[labelled]
            if epoch >= self.config.warmup_epochs:
                margin = self.model.config.am_scale * self.model.config.am_margin
                logits = logits - margin * F.one_hot(labels[labelled], logits.shape[1])
            loss = F.cross_entropy(logits, labels[labelled])
            parts["emotion"] = loss.item()
        t = options.temperature
        targets = F.softmax(self.teacher[batch["row"]] / t, dim=1)
        distill = F.kl_div(
            F.log_softmax(output.logits / t, dim=1), targets, reduction="batchmean"
        ) * (t * t)
        parts["distill"] = distill.item()
        loss = loss + options.weight * distill
        return self.attribute_losses(output, batch, loss, parts)


def make_trainer(config: TrainConfig, data: Partition | None = None) -> Trainer:
    """The trainer a config asks for: distilling when `config.distill` is set. Without
    `data`, the config's own speaker-disjoint split."""
    if config.distill is None:
        return Trainer(config, data)
    from training.experiment import partition

    return DistillationTrainer(config, data or partition(config))
