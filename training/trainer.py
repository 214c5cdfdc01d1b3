"""The training loop: AM-softmax emotion loss, attribute control, early stopping, resume.

Runs on one process or several under `torchrun` (gloo on CPU, nccl on GPU): each
rank trains on its shard of every epoch's permutation, DistributedDataParallel
averages gradients, and rank 0 alone validates, logs and writes checkpoints.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from streamser.constants import SAMPLE_RATE_HZ
from training.augment import Augmenter
from training.checkpoint import Checkpoint, save_checkpoint
from training.config import TrainConfig
from training.data import AudioCache, LabelSpace, TrainingBatches
from training.experiment import Partition, partition
from training.metrics import unweighted_accuracy, weighted_accuracy
from training.model.msac_sernet import AttributeHead, ModelConfig, MSACSERNet
from training.predict import predict, speakers_of
from training.progress import TrainingProgress

log = logging.getLogger(__name__)

MAX_EVAL_SECONDS = 30.0


@dataclass
class History:
    """Per-epoch metrics, written to metrics.json and plotted after each epoch."""

    epochs: list[dict] = field(default_factory=list)
    best_ua: float = -1.0
    best_epoch: int = -1

    def improved(self) -> bool:
        return self.best_epoch == self.epochs[-1]["epoch"]


def model_config_for(config: TrainConfig, labels: LabelSpace) -> ModelConfig:
    heads = []
    control = config.msac
    gender_values = labels.attributes.get("gender", ())
    if control.gender_weight > 0 and len(gender_values) >= 2:
        heads.append(AttributeHead("gender", len(gender_values), "joint", control.gender_weight))
    if control.speaker_weight > 0 and len(labels.attributes.get("speaker", ())) >= 2:
        heads.append(
            AttributeHead(
                "speaker", len(labels.attributes["speaker"]), "adversarial", control.speaker_weight
            )
        )
    if control.corpus_weight > 0 and len(labels.attributes.get("corpus", ())) >= 2:
        heads.append(
            AttributeHead(
                "corpus", len(labels.attributes["corpus"]), "adversarial", control.corpus_weight
            )
        )
    return ModelConfig(
        classes=config.classes,
        am_scale=config.am_scale,
        am_margin=config.margin,
        attributes=tuple(heads),
        speaker_normalise=config.speaker_normalise,
        speaker_prior_utterances=config.speaker_prior_utterances,
        frontend=config.frontend,
    )


def reversal_coefficient(config: TrainConfig, progress: float) -> float:
    if not config.msac.reversal_ramp:
        return config.msac.reversal_max
    return config.msac.reversal_max * (2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0)


class Trainer:
    def __init__(self, config: TrainConfig, data: Partition | None = None) -> None:
        self.config = config
        self.output = Path(config.output_dir)
        self.rank, self.world = _distributed_rank()
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        self.data = data or partition(config)
        attributes = ["gender", "speaker", "corpus"]
        self.labels = LabelSpace.build(self.data.train, config.classes, attributes)
        self.model = MSACSERNet(model_config_for(config, self.labels))
        self.train_model: torch.nn.Module = self.model
        if self.world > 1:
            self.train_model = torch.nn.parallel.DistributedDataParallel(self.model)
        self.train_audio = AudioCache(self.data.train)
        self.validation_audio = AudioCache(self.data.validation) if self.rank == 0 else None
        self.batches = TrainingBatches(
            self.train_audio,
            [self.labels.encode(u) for u in self.data.train],
            batch_size=config.batch_size,
            crop_samples=int(config.crop_seconds * SAMPLE_RATE_HZ),
            augmenter=Augmenter(config.augment) if config.augment else None,
            seed=config.seed,
            shard=(self.rank, self.world),
            speaker_groups=(
                ([u.speaker for u in self.data.train], config.speaker_group_size)
                if config.speaker_normalise
                else None
            ),
        )
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer,
            max_lr=config.learning_rate,
            total_steps=config.epochs * len(self.batches),
            pct_start=0.15,
        )
        self.history = History()
        self.start_epoch = 0

    def resume(self, checkpoint: Checkpoint) -> None:
        self.model.load_state_dict(checkpoint.model_state)
        self.optimizer.load_state_dict(checkpoint.optimizer_state)
        self.scheduler.load_state_dict(checkpoint.scheduler_state)
        self.history = History(**checkpoint.history)
        self.start_epoch = checkpoint.epoch + 1
        self.batches.epoch = self.start_epoch
        log.info("resuming after epoch %d", checkpoint.epoch)

    def fit(self, max_epochs: int | None = None) -> Path:
        """Trains until the epoch budget or early stopping; returns the best checkpoint.

        Args:
            max_epochs: Stop after this many epochs in this call (a time-boxed run
                that a later `resume` continues); None runs to the end.
        """
        config = self.config
        last_epoch = (
            config.epochs
            if max_epochs is None
            else min(config.epochs, self.start_epoch + max_epochs)
        )
        self.output.mkdir(parents=True, exist_ok=True)
        total_steps = config.epochs * len(self.batches)
        with TrainingProgress(
            enabled=self.rank == 0, epochs=config.epochs, steps=len(self.batches)
        ) as progress:
            for epoch in range(self.start_epoch, last_epoch):
                started = time.perf_counter()
                losses = self._train_epoch(epoch, total_steps, progress)
                stop = torch.zeros(1)
                if self.rank == 0:
                    metrics = self._validate()
                    self._record(epoch, losses, metrics, time.perf_counter() - started)
                    progress.epoch_done(epoch, self.history.epochs[-1])
                    if epoch - self.history.best_epoch >= config.patience_epochs:
                        log.info(
                            "early stop: no better validation UA for %d epochs",
                            config.patience_epochs,
                        )
                        stop += 1
                if self.world > 1:
                    torch.distributed.broadcast(stop, src=0)
                if stop.item():
                    break
        return self.output / "best.pt"

    def _train_epoch(
        self, epoch: int, total_steps: int, progress: TrainingProgress
    ) -> dict[str, float]:
        self.train_model.train()
        sums: dict[str, float] = {}
        steps = 0
        for step, batch in enumerate(self.batches):
            global_step = epoch * len(self.batches) + step
            coefficient = reversal_coefficient(self.config, global_step / total_steps)
            loss, parts = self.batch_loss(batch, epoch, coefficient)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
            self.optimizer.step()
            self.scheduler.step()
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + value
            steps += 1
            progress.step(loss.item())
        return {f"loss_{k}": v / steps for k, v in sums.items()}

    def batch_loss(
        self, batch: dict[str, torch.Tensor], epoch: int, coefficient: float
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """One batch's loss and its parts: AM-softmax emotion (the margin after the
        warm-up epochs) plus the weighted attribute heads. Subclasses add terms
        (`training.encoder.distill`)."""
        use_margin = epoch >= self.config.warmup_epochs
        output = self.train_model(
            batch["waveform"],
            batch["emotion"] if use_margin else None,
            coefficient,
            batch_speakers=batch["speaker"] if self.config.speaker_normalise else None,
        )
        loss = F.cross_entropy(output.logits, batch["emotion"])
        parts = {"emotion": loss.item()}
        return self.attribute_losses(output, batch, loss, parts)

    def attribute_losses(
        self, output, batch: dict[str, torch.Tensor], loss: torch.Tensor, parts: dict[str, float]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """`loss` plus each attribute head's weighted loss (unknown values ignored)."""
        for head in self.model.config.attributes:
            head_loss = F.cross_entropy(
                output.attribute_logits[head.name], batch[head.name], ignore_index=-1
            )
            if torch.isfinite(head_loss):
                loss = loss + head.weight * head_loss
                parts[head.name] = head_loss.item()
        return loss, parts

    def _validate(self) -> dict[str, float]:
        logits, _ = predict(
            self.model,
            self.validation_audio.audio,
            MAX_EVAL_SECONDS,
            speakers_of(self.data.validation),
        )
        true = [self.config.classes.index(u.emotion) for u in self.data.validation]
        predicted = logits.argmax(axis=1)
        return {
            "val_ua": unweighted_accuracy(true, predicted),
            "val_wa": weighted_accuracy(true, predicted),
        }

    def _record(self, epoch: int, losses: dict, metrics: dict, seconds: float) -> None:
        entry = {
            "epoch": epoch,
            **losses,
            **metrics,
            "lr": self.scheduler.get_last_lr()[0],
            "seconds": seconds,
        }
        self.history.epochs.append(entry)
        if metrics["val_ua"] > self.history.best_ua:
            self.history.best_ua = metrics["val_ua"]
            self.history.best_epoch = epoch
        checkpoint = Checkpoint(
            train_config=self.config.to_dict(),
            model_config=self.model.config.to_dict(),
            labels={
                "emotions": list(self.labels.emotions),
                "attributes": {k: list(v) for k, v in self.labels.attributes.items()},
            },
            model_state=self.model.state_dict(),
            optimizer_state=self.optimizer.state_dict(),
            scheduler_state=self.scheduler.state_dict(),
            epoch=epoch,
            history=self.history.__dict__,
        )
        save_checkpoint(checkpoint, self.output / "last.pt")
        if self.history.improved():
            save_checkpoint(checkpoint, self.output / "best.pt")
        (self.output / "metrics.json").write_text(json.dumps(self.history.epochs, indent=1))
        plot_history(self.history.epochs, self.output / "training-curve.png")


def plot_history(epochs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, (loss_axes, ua_axes) = plt.subplots(1, 2, figsize=(10, 3.5))
    x = [e["epoch"] for e in epochs]
    for key in sorted(k for k in epochs[0] if k.startswith("loss_")):
        loss_axes.plot(x, [e.get(key, np.nan) for e in epochs], label=key[5:])
    loss_axes.set_xlabel("epoch")
    loss_axes.set_title("training loss")
    loss_axes.legend()
    ua_axes.plot(x, [e["val_ua"] for e in epochs], label="UA")
    ua_axes.plot(x, [e["val_wa"] for e in epochs], label="WA")
    ua_axes.set_xlabel("epoch")
    ua_axes.set_title("validation")
    ua_axes.set_ylim(0, 1)
    ua_axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _distributed_rank() -> tuple[int, int]:
    """(rank, world size); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend=backend)
    return torch.distributed.get_rank(), world
