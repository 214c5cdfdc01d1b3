"""The accurate tier's head: AM-softmax with attribute control on frozen encoder vectors.

The same ideas as MSAC-SERNet's top (`training.model.msac_sernet`), on a vector
the encoder computed once: optional per-speaker standardisation of the input
(`SpeakerNormalisation`, the runtime keeping each stream's statistics), a hidden
layer that attribute control acts on (gender learned jointly, speaker and corpus
suppressed by gradient reversal), an L2-normalised embedding and an AM-softmax
classifier whose scaled cosines are the logits. Training takes seconds: the
inputs are cached vectors (`training.encoder.embeddings`), trained for a fixed
budget with the epoch chosen on held-out validation speakers.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from training.data import speaker_grouped_order
from training.encoder.graph import LAYER_OUTPUTS
from training.metrics import unweighted_accuracy
from training.model.layers import AdditiveMarginSoftmax, SpeakerNormalisation, reverse_gradient
from training.model.msac_sernet import batch_context
from training.predict import speaker_contexts

ATTRIBUTES = ("gender", "speaker", "corpus")
"""Attribute control: gender joint (it correlates with emotion), the others adversarial."""


@dataclass(frozen=True)
class HeadOptions:
    """Attributes:
    outputs: Encoder tensors the head reads (`training.encoder.graph`; frame tensors
        are summarised by mean and standard deviation), concatenated. The default,
        the residual stream after the first of the four layers, needs a quarter of
        the encoder and scored highest through a telephone line. On EmoDB
        leave-one-speaker-out, 4 classes, wideband / telephone UA: first layer
        0.912 / 0.893, second 0.911 / 0.856, first and second 0.903 / 0.873, third
        0.881 / 0.861; the pooled vector Smart Turn's classifier reads 0.803 / 0.789.
    pad: Where an utterance sits in the encoder's 8 s window.
    hidden: Width of the hidden layer attribute control acts on.
    embedding_dim: Size of the L2-normalised embedding.
    am_scale, am_margin: AM-softmax s and m.
    dropout: On the input and the hidden layer while training.
    speaker_normalise: Standardise inputs with the speaker's own statistics.
    speaker_prior_utterances: Weight of the population prior in those statistics.
    gender_weight, speaker_weight, corpus_weight: Attribute heads' loss weights (0: off).
    telephone: Train on every utterance through a telephone line too.
    margins: Train on every utterance with the margins the runtime's segmenter leaves
        around it too (`training.encoder.row.with_margins`).
    epochs, batch_size, learning_rate, weight_decay: AdamW on a cosine schedule.
    speaker_group_size: Batches hold runs of this many utterances of one speaker.
    seed: Initialisation and batches of the first head.
    heads: Heads trained alike from seeds `seed`, `seed + 1`, ..., their logits averaged
        (`HeadEnsemble`). One head's leave-one-speaker-out UA on EmoDB moved by up to
        3.4 points with the seed alone (0.869 to 0.903, five seeds); an ensemble
        does not depend on one draw, and its heads cost little beside the encoder.
    """

    outputs: tuple[str, ...] = (LAYER_OUTPUTS[0],)
    pad: str = "left"
    hidden: int = 256
    embedding_dim: int = 128
    am_scale: float = 30.0
    am_margin: float = 0.2
    dropout: float = 0.3
    speaker_normalise: bool = True
    speaker_prior_utterances: float = 4.0
    gender_weight: float = 0.1
    speaker_weight: float = 0.05
    corpus_weight: float = 0.05
    telephone: bool = True
    margins: bool = True
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-2
    speaker_group_size: int = 8
    seed: int = 0
    heads: int = 5

    def __post_init__(self) -> None:
        if self.heads < 1:
            raise ValueError(f"heads {self.heads}: a head ensemble needs at least one head")

    @classmethod
    def from_dict(cls, data: dict) -> HeadOptions:
        data = dict(data)
        if "outputs" in data:
            data["outputs"] = tuple(data["outputs"])
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown head option(s): {', '.join(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class HeadData:
    """Vectors and what is known about them.

    Attributes:
        x: [n, dim] encoder vectors.
        emotion: [n] class indices.
        speakers: A speaker (stream) per row: whose statistics normalise it.
        attributes: Per attribute name, [n] codes (-1: unknown).
    """

    x: np.ndarray
    emotion: np.ndarray
    speakers: list[str]
    attributes: dict[str, np.ndarray]


class EmotionHead(nn.Module):
    def __init__(
        self,
        input_dim: int,
        classes: int,
        options: HeadOptions,
        attribute_classes: dict[str, int],
        mean: np.ndarray,
        var: np.ndarray,
    ) -> None:
        super().__init__()
        self.options = options
        self.input_dim = input_dim
        self.normalisation = SpeakerNormalisation(input_dim, options.speaker_prior_utterances)
        with torch.no_grad():  # the population prior starts at the training data's statistics
            self.normalisation.population_mean.copy_(torch.as_tensor(mean))
            self.normalisation.population_var.copy_(torch.as_tensor(np.maximum(var, 1e-6)))
        self.hidden = nn.Sequential(
            nn.Dropout(options.dropout), nn.Linear(input_dim, options.hidden), nn.GELU()
        )
        self.dropout = nn.Dropout(options.dropout)
        self.embed = nn.Linear(options.hidden, options.embedding_dim)
        self.emotion = AdditiveMarginSoftmax(
            options.embedding_dim, classes, options.am_scale, options.am_margin
        )
        self.attribute_heads = nn.ModuleDict(
            {
                name: nn.Sequential(nn.Linear(options.hidden, 64), nn.ReLU(), nn.Linear(64, n))
                for name, n in attribute_classes.items()
            }
        )

    def forward(
        self,
        x: torch.Tensor,
        context: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
        labels: torch.Tensor | None = None,
        reversal: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """-> (logits, embedding, attribute logits). Without speaker normalisation the
        input is standardised with the population statistics alone (no context)."""
        if context is None or not self.options.speaker_normalise:
            zeros = torch.zeros_like(x)
            context = (zeros, zeros, x.new_zeros(len(x)))
        if self.options.speaker_normalise:
            normalised = self.normalisation(x, *context)
        else:
            mean = self.normalisation.population_mean
            normalised = (x - mean) / torch.sqrt(self.normalisation.population_var)
        hidden = self.hidden(normalised)
        embedding = F.normalize(self.embed(self.dropout(hidden)), dim=1)
        logits = self.emotion(embedding, labels)
        attributes = {}
        for name, head in self.attribute_heads.items():
            source = hidden if name == "gender" else reverse_gradient(hidden, reversal)
            attributes[name] = head(source)
        return logits, embedding, attributes

    def eval_forward(self, x: torch.Tensor, context) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference: (logits, embedding), the exported graph's computation."""
        if not self.options.speaker_normalise:
            context = None
        logits, embedding, _ = self.forward(x, context)
        return logits, embedding


class HeadEnsemble(nn.Module):
    """Heads trained alike from different seeds (a deep ensemble, Lakshminarayanan et
    al. 2017): the mean of their logits, and their embeddings side by side, scaled so
    that the whole stays a unit vector whose cosine is the mean of the heads' cosines.

    Every head reads the same encoder vector and speaker statistics; each keeps its
    own population prior (a running statistic of its own batches)."""

    def __init__(self, heads: Sequence[EmotionHead]) -> None:
        super().__init__()
        self.heads = nn.ModuleList(heads)
        self.options = heads[0].options
        self.input_dim = heads[0].input_dim

    @property
    def embedding_dim(self) -> int:
        return len(self.heads) * self.options.embedding_dim

    def eval_forward(self, x: torch.Tensor, context) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference: (logits, embedding), the exported graph's computation."""
        outputs = [head.eval_forward(x, context) for head in self.heads]
        logits = torch.stack([logits for logits, _ in outputs]).mean(dim=0)
        embedding = torch.cat([embedding for _, embedding in outputs], dim=1)
        return logits, embedding / math.sqrt(len(outputs))


def attribute_weights(options: HeadOptions) -> dict[str, float]:
    return {
        "gender": options.gender_weight,
        "speaker": options.speaker_weight,
        "corpus": options.corpus_weight,
    }


def train_head(
    train: HeadData,
    validation: HeadData | None,
    classes: Sequence[str],
    options: HeadOptions,
) -> tuple[HeadEnsemble, dict]:
    """Trains `options.heads` heads, each kept at its epoch with the best validation
    UA (the last epoch without validation data); returns them as one ensemble and a
    record of the run (each head's epoch, the ensemble's validation UA).

    On one torch thread: the matrices are small, and on a busy machine a second
    thread makes training many times slower, not faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = [
            _train(train, validation, classes, replace(options, seed=options.seed + i))
            for i in range(options.heads)
        ]
    finally:
        torch.set_num_threads(threads)
    ensemble = HeadEnsemble([head for head, _ in runs]).eval()
    record = {"best_epochs": [epoch for _, epoch in runs]}
    if validation is not None:
        predicted = head_outputs(ensemble, validation.x, validation.speakers)[0].argmax(1)
        record["validation_ua"] = unweighted_accuracy(validation.emotion, predicted)
    return ensemble, record


def _train(
    train: HeadData, validation: HeadData | None, classes: Sequence[str], options: HeadOptions
) -> tuple[EmotionHead, int]:
    """One head, at its best epoch; returns it and that epoch."""
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    weights = attribute_weights(options)
    controlled = {
        name: int(codes.max()) + 1
        for name, codes in train.attributes.items()
        if weights.get(name, 0) > 0 and len(np.unique(codes[codes >= 0])) >= 2
    }
    x = torch.from_numpy(train.x.astype(np.float32))
    head = EmotionHead(
        x.shape[1], len(classes), options, controlled, train.x.mean(0), train.x.var(0)
    )
    optimizer = torch.optim.AdamW(
        head.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay
    )
    steps_per_epoch = max(1, math.ceil(len(x) / options.batch_size))
    total = options.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=options.learning_rate, total_steps=total
    )
    emotion = torch.from_numpy(train.emotion.astype(np.int64))
    attributes = {n: torch.from_numpy(train.attributes[n].astype(np.int64)) for n in controlled}
    speaker_codes = {s: i for i, s in enumerate(sorted(set(train.speakers)))}
    speakers = torch.tensor([speaker_codes[s] for s in train.speakers])
    best = (-1.0, -1, copy.deepcopy(head.state_dict()))
    step = 0
    for epoch in range(options.epochs):
        head.train()
        order = speaker_grouped_order(train.speakers, options.speaker_group_size, rng)
        for start in range(0, len(order), options.batch_size):
            rows = torch.from_numpy(order[start : start + options.batch_size])
            batch = x[rows]
            context = batch_context(batch, speakers[rows]) if options.speaker_normalise else None
            reversal = 2.0 / (1.0 + math.exp(-10.0 * step / total)) - 1.0
            logits, _, attribute_logits = head(batch, context, emotion[rows], reversal)
            loss = F.cross_entropy(logits, emotion[rows])
            for name, values in attribute_logits.items():
                part = F.cross_entropy(values, attributes[name][rows], ignore_index=-1)
                if torch.isfinite(part):
                    loss = loss + weights[name] * part
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
        if validation is not None:
            predicted = head_outputs(head, validation.x, validation.speakers)[0].argmax(1)
            ua = unweighted_accuracy(validation.emotion, predicted)
            if ua >= best[0]:
                best = (ua, epoch, copy.deepcopy(head.state_dict()))
    if validation is None:
        return head.eval(), options.epochs - 1
    head.load_state_dict(best[2])
    return head.eval(), best[1]


def head_outputs(
    head: EmotionHead | HeadEnsemble,
    x: np.ndarray,
    speakers: Sequence[str] | None,
    reading: str = "offline",
) -> tuple[np.ndarray, np.ndarray]:
    """(logits, embeddings) of vectors, each normalised with the speaker statistics
    `reading` gives it (`training.predict.READINGS`, as for the CNN)."""
    head.eval()
    features = torch.from_numpy(np.asarray(x, dtype=np.float32))
    arrays = speaker_contexts(x, speakers, reading)
    context = tuple(torch.from_numpy(a).float() for a in arrays)
    with torch.no_grad():
        logits, embedding = head.eval_forward(features, context)
    return logits.numpy(), embedding.numpy()
