"""One adaptation run: a labelled source bank, an unlabelled target bank, one method.

Every method shares the network, the data order, the optimiser and the budget;
they differ only in the alignment term added to the source emotion loss:

    loss = emotion(source) + w * ramp(p) * alignment(source, target)

ramp(p) = 2 / (1 + exp(-10 p)) - 1 over training progress p (Ganin et al.
2016), so alignment starts once features exist. No target label is read here:
the target bank's labels are used only by `score` after training, for the table.
The run ends after a fixed number of steps (no model selection on the target).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from streamser.errors import StreamserError
from training.adapt.baselines import DomainClassifier, coral_loss, mmd_loss
from training.adapt.data import MapBank, batches
from training.adapt.ida import REFERENCES, SOLVERS, class_aware_ida_loss, ida_loss
from training.adapt.network import FEATURES, AdaptOutput, DidanConfig, DidanNet
from training.metrics import unweighted_accuracy, weighted_accuracy

log = logging.getLogger(__name__)

METHODS = ("source-only", "didan", "lidan", "mmd", "dann", "coral")

DEFAULT_WEIGHTS = {
    "source-only": 0.0,
    "didan": 1.0,
    "lidan": 10.0,
    "mmd": 0.1,
    "dann": 0.1,
    "coral": 10000.0,
}
"""Alignment weights w of `streamser adapt`: the development rule's choices
(`training.adapt.develop`, on the development parts of SynthEmo and EmoDB); the table
runs at the weights it reads from the development results, and docs/CROSS_CORPUS.md
says whether these agree with them."""

ENCODER_DEFAULT_WEIGHTS = {
    "source-only": 0.0,
    "didan": 0.1,
    "lidan": 1.0,
    "mmd": 0.01,
    "dann": 0.1,
    "coral": 10000.0,
}
"""The same with `features="encoder"`: the development rule's choices on encoder features
(docs/CROSS_CORPUS.md, "Weights chosen for encoder features", checks them)."""
DEFAULT_WEIGHTS_BY_FEATURES = {"log-mel": DEFAULT_WEIGHTS, "encoder": ENCODER_DEFAULT_WEIGHTS}

HIGH_AROUSAL = ("angry", "happy", "fear", "surprise")
"""LIDAN's coarse level: high vs low arousal (neutral, sad, disgust, boredom)."""


@dataclass(frozen=True)
class IdaOptions:
    """Attributes:
    solver: "ridge" (closed form) or "sparse" (FISTA, L1).
    ridge: L2 penalty on the reconstruction coefficients.
    l1: L1 penalty of the sparse solver.
    fista_steps: Iterations of the sparse solver.
    class_aware: After warm-up, reconstruct each target pseudo-class from its source class.
    warmup_fraction: Share of the steps before pseudo-labels are trusted.
    reference: "relative" (each domain reconstructed from the other, against each from
        itself) or "absolute" (the target from the source alone, which collapses
        features); see `training.adapt.ida.ida_loss`.
    """

    solver: str = "ridge"
    ridge: float = 0.1
    l1: float = 0.05
    fista_steps: int = 10
    class_aware: bool = False
    warmup_fraction: float = 0.3
    reference: str = "relative"

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise StreamserError(f"IDA solver {self.solver!r}: expected {' or '.join(SOLVERS)}")
        if self.reference not in REFERENCES:
            raise StreamserError(f"IDA reference {self.reference!r}: expected relative or absolute")

    def loss_options(self) -> dict:
        return {
            "solver": self.solver,
            "ridge": self.ridge,
            "l1": self.l1,
            "fista_steps": self.fista_steps,
            "reference": self.reference,
        }


@dataclass(frozen=True)
class AdaptConfig:
    """Attributes:
    method: One of METHODS.
    loss: Source emotion loss: "regression" (squared error to one-hot, DIDAN's) or
        "cross-entropy".
    steps: Optimiser steps (fixed budget; the last model is kept).
    batch_size: Source and target utterances per step (each).
    crop_frames: Training crop in pooled frames (40 ms each).
    learning_rate, weight_decay: AdamW with cosine decay.
    alignment_weight: w; None takes the method's entry in its input's default weights
        (DEFAULT_WEIGHTS_BY_FEATURES).
    seed: Initialisation, batches and crops.
    ida: IDA settings (didan, lidan).
    coarse_head: LIDAN only: the supervised high/low-arousal head on FC1 (its coarse
        level); False runs LIDAN's alignment terms alone.
    features: The network's input, "log-mel" (pooled maps) or "encoder" (frozen encoder
        vectors, `training.adapt.features`); the banks must hold that input.
    """

    method: str = "didan"
    loss: str = "regression"
    steps: int = 300
    batch_size: int = 32
    crop_frames: int = 50
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    alignment_weight: float | None = None
    seed: int = 0
    ida: IdaOptions = field(default_factory=IdaOptions)
    coarse_head: bool = True
    features: str = "log-mel"

    def __post_init__(self) -> None:
        if self.features not in FEATURES:
            raise StreamserError(
                f"features {self.features!r}: expected one of {', '.join(FEATURES)}"
            )
        if self.method not in METHODS:
            raise StreamserError(f"method {self.method!r}: expected one of {', '.join(METHODS)}")
        if self.loss not in ("regression", "cross-entropy"):
            raise StreamserError(f"loss {self.loss!r}: expected regression or cross-entropy")
        if self.steps < 1 or self.batch_size < 2:
            raise StreamserError("adaptation needs steps >= 1 and batch_size >= 2")

    @property
    def weight(self) -> float:
        if self.alignment_weight is None:
            return DEFAULT_WEIGHTS_BY_FEATURES[self.features][self.method]
        return self.alignment_weight

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AdaptConfig:
        data = dict(data)
        data["ida"] = IdaOptions(**data.get("ida", {}))
        return cls(**data)


def network_config(config: AdaptConfig, classes: Sequence[str], vector_dim: int = 0) -> DidanConfig:
    """The network of a run; `vector_dim` is the encoder vectors' width (encoder features)."""
    coarse = 0
    if (
        config.method == "lidan"
        and config.coarse_head
        and len({c in HIGH_AROUSAL for c in classes}) == 2
    ):
        coarse = 2
    if config.features == "log-mel":
        return DidanConfig(classes=tuple(classes), coarse_classes=coarse)
    return DidanConfig(
        classes=tuple(classes),
        coarse_classes=coarse,
        features=config.features,
        vector_dim=vector_dim,
    )


def input_width(config: AdaptConfig, *banks: MapBank) -> int:
    """The encoder vectors' width (0 for log-mel), checking that every bank holds the
    input `config.features` names."""
    vectors = config.features == "encoder"
    widths = set()
    for bank in banks:
        for item in bank.maps:
            if (item.dim() == 1) != vectors:
                raise StreamserError(
                    f"features {config.features!r}, but a bank holds "
                    f"{'encoder vectors' if item.dim() == 1 else 'log-mel maps'}"
                )
            widths.add(int(item.shape[0]))
    if vectors and len(widths) != 1:
        raise StreamserError(f"encoder vectors of several widths: {sorted(widths)}")
    return widths.pop() if vectors else 0


def ramp(progress: float) -> float:
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0


@dataclass
class AdaptRun:
    """Attributes:
    model: The adapted network (eval mode).
    history: Mean losses per tenth of the run.
    seconds: Wall time of the training loop.
    """

    model: DidanNet
    history: list[dict]
    seconds: float


def adapt(
    config: AdaptConfig, classes: Sequence[str], source: MapBank, target: MapBank
) -> AdaptRun:
    """Trains on labelled `source` and unlabelled `target` maps; target labels are never read."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng([config.seed, 17])
    model = DidanNet(network_config(config, classes, input_width(config, source, target)))
    discriminator = (
        DomainClassifier(model.config.embedding_dim) if config.method == "dann" else None
    )
    parameters = list(model.parameters())
    if discriminator is not None:
        parameters += list(discriminator.parameters())
    optimizer = torch.optim.AdamW(
        parameters, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.steps)
    coarse_of = torch.tensor([int(c in HIGH_AROUSAL) for c in classes])
    source_batches = batches(len(source), config.batch_size, rng)
    target_batches = batches(len(target), config.batch_size, rng)
    history: list[dict] = []
    sums: dict[str, float] = {}
    started = time.perf_counter()
    model.train()
    for step in range(config.steps):
        progress = step / config.steps
        source_index = next(source_batches)
        labels = source.labels[source_index]
        source_maps = source.batch(source_index, config.crop_frames, rng)
        if config.method == "source-only":
            out_s, out_t = model.head(source_maps), None
        else:
            target_maps = target.batch(next(target_batches), config.crop_frames, rng)
            joint = model.head(torch.cat([source_maps, target_maps]))
            out_s, out_t = split_output(joint, len(source_maps))
        parts = {"emotion": emotion_loss(config.loss, out_s.logits, labels)}
        if out_s.coarse_logits is not None:
            parts["coarse"] = 0.5 * F.cross_entropy(out_s.coarse_logits, coarse_of[labels])
        if out_t is not None:
            align = alignment_loss(config, out_s, out_t, labels, progress, discriminator)
            parts["align"] = align
            if step < max(config.steps // 10, 1):
                parts.update(gradient_norms(config, joint, parts, len(source_maps), discriminator))
        loss = parts["emotion"] + parts.get("coarse", 0.0)
        if "align" in parts:
            # DANN's weight sits in the reversal coefficient: its discriminator learns at full rate.
            scale = 1.0 if config.method == "dann" else config.weight * ramp(progress)
            loss = loss + scale * parts["align"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 5.0)
        optimizer.step()
        scheduler.step()
        for key, value in parts.items():
            value = value.detach() if isinstance(value, torch.Tensor) else value
            sums[key] = sums.get(key, 0.0) + float(value)
        sums["count"] = sums.get("count", 0.0) + 1
        if (step + 1) % max(config.steps // 10, 1) == 0 or step + 1 == config.steps:
            count = sums.pop("count")
            history.append({"step": step + 1, **{k: v / count for k, v in sums.items()}})
            sums = {}
    seconds = time.perf_counter() - started
    log.info("%s: %d steps in %.1f s, last %s", config.method, config.steps, seconds, history[-1])
    return AdaptRun(model=model.eval(), history=history, seconds=seconds)


def gradient_norms(
    config: AdaptConfig,
    joint: AdaptOutput,
    parts: dict[str, torch.Tensor],
    n: int,
    discriminator: DomainClassifier | None,
) -> dict[str, float]:
    """How hard the emotion loss and the (unweighted) alignment term pull on the joint FC2
    features: the norms of their gradients there, recorded over the first tenth of a run
    so that `training.adapt.develop` can place each row's weight grid where the two terms
    balance. Measuring changes nothing in training (no parameter, no random draw)."""
    features = joint.layers[-1]
    emotion = torch.autograd.grad(parts["emotion"], features, retain_graph=True)[0]
    probe = parts["align"]
    if discriminator is not None:  # the term itself, not its reversed and weighted gradient
        discriminator.eval()
        probe = discriminator.loss(features[:n], features[n:], 1.0)
        discriminator.train()
    align = torch.autograd.grad(probe, features, retain_graph=True, allow_unused=True)[0]
    return {
        "grad_emotion": float(emotion.norm()),
        "grad_align": float(align.norm()) if align is not None else 0.0,
    }


def split_output(joint: AdaptOutput, n: int) -> tuple[AdaptOutput, AdaptOutput]:
    def part(rows: slice) -> AdaptOutput:
        coarse = joint.coarse_logits[rows] if joint.coarse_logits is not None else None
        return AdaptOutput(
            logits=joint.logits[rows],
            embedding=joint.embedding[rows],
            layers=tuple(layer[rows] for layer in joint.layers),
            coarse_logits=coarse,
        )

    return part(slice(0, n)), part(slice(n, None))


def emotion_loss(kind: str, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if kind == "cross-entropy":
        return F.cross_entropy(scores, labels)
    one_hot = F.one_hot(labels, scores.shape[1]).to(scores.dtype)
    return (scores - one_hot).square().sum(dim=1).mean()


def alignment_loss(
    config: AdaptConfig,
    out_s: AdaptOutput,
    out_t: AdaptOutput,
    labels: torch.Tensor,
    progress: float,
    discriminator: DomainClassifier | None,
) -> torch.Tensor:
    """The method's alignment term on FC2 (LIDAN: FC1 and FC2)."""
    s, t = out_s.layers[-1], out_t.layers[-1]
    method = config.method
    if method == "mmd":
        return mmd_loss(s, t)
    if method == "coral":
        return coral_loss(s, t)
    if method == "dann":
        assert discriminator is not None
        return discriminator.loss(s, t, config.weight * ramp(progress))
    options = config.ida.loss_options()
    warm = progress >= config.ida.warmup_fraction
    if method == "didan":
        return ida_term(s, t, labels, out_t.logits, config.ida.class_aware and warm, options)
    # LIDAN: marginal IDA on FC1 (coarse level), class-aware IDA on FC2 after warm-up.
    coarse = ida_loss(out_s.layers[0], out_t.layers[0], **options)
    fine = ida_term(s, t, labels, out_t.logits, warm, options)
    return 0.5 * (coarse + fine)


def ida_term(
    s: torch.Tensor,
    t: torch.Tensor,
    labels: torch.Tensor,
    target_scores: torch.Tensor,
    class_aware: bool,
    options: dict,
) -> torch.Tensor:
    if class_aware:
        pseudo = target_scores.detach().argmax(dim=1)
        loss = class_aware_ida_loss(s, labels, t, pseudo, **options)
        if loss is not None:
            return loss
    return ida_loss(s, t, **options)


def score(model: DidanNet, bank: MapBank) -> tuple[np.ndarray, np.ndarray]:
    """(logits, embeddings) of whole utterances, one at a time (lengths differ)."""
    model.eval()
    logits, embeddings = [], []
    with torch.no_grad():
        for maps in bank.maps:
            out = model.head(maps[None])
            logits.append(out.logits[0].numpy())
            embeddings.append(out.embedding[0].numpy())
    return np.stack(logits), np.stack(embeddings)


def accuracy(logits: np.ndarray, labels: torch.Tensor) -> dict[str, float]:
    predicted = logits.argmax(axis=1)
    true = labels.numpy()
    return {"ua": unweighted_accuracy(true, predicted), "wa": weighted_accuracy(true, predicted)}
