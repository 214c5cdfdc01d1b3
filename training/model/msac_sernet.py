"""MSAC-SERNet: a compact CNN for speech emotion with Multiple Speech Attribute Control.

After Pan et al., "MSAC-SERNet" (arXiv 2308.04025): a CNN focused on the emotion
attribute, trained with AM-softmax, with attribute heads that either share
(emotion-correlated attributes such as gender) or are suppressed through gradient
reversal (emotion-agnostic ones: speaker, corpus). The paper's layer-level
details are not public; this network is our design, choice by choice:

- Multi-scale first layer: parallel kernels that are long in time (3x9), long in
  frequency (9x3) and square (3x3), concatenated. Emotion lives both in
  spectral shape (voice quality) and in temporal dynamics (rate, F0 contour).
- Four residual blocks with squeeze-excitation, strided down to 1/8 in both
  axes: enough depth for a small model (about 1 M parameters), cheap on a CPU.
- Frequency is averaged away, then attentive statistics pooling summarises any
  number of frames: utterances of any length above the minimum work.
- A 128-d embedding, L2-normalised, feeds the AM-softmax emotion head; its
  cosine logits and the embedding are the exported outputs (the OOD gate uses both).
- Attribute heads read the pooled representation before the embedding layer,
  so suppression acts on the shared trunk.
- Optionally (`speaker_normalise`), the pooled features are standardised with the
  speaker's own statistics before the embedding layer (`SpeakerNormalisation`);
  the exported graph then takes those statistics as inputs and returns the
  pooled features, so the runtime can keep them per stream.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from training.config import FrontendConfig
from training.model.frontend import LogMelFrontend
from training.model.layers import (
    AdditiveMarginSoftmax,
    AttentiveStatisticsPooling,
    ResidualBlock,
    SpeakerNormalisation,
    SpecAugment,
    reverse_gradient,
)

SpeakerContext = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""A speaker's other utterances as (sum [batch, dim], sum of squares [batch, dim],
count [batch]) of their pooled features; zeros for a speaker's first utterance."""


@dataclass(frozen=True)
class AttributeHead:
    """One controlled attribute.

    Attributes:
        name: Record field it predicts ("gender", "speaker", "corpus").
        classes: Number of values.
        mode: "joint" learns it alongside emotion; "adversarial" suppresses it.
        weight: Loss weight.
    """

    name: str
    classes: int
    mode: str = "joint"
    weight: float = 0.1

    def __post_init__(self) -> None:
        if self.mode not in ("joint", "adversarial"):
            raise ValueError(f"attribute mode {self.mode!r}: expected joint or adversarial")


@dataclass(frozen=True)
class ModelConfig:
    """Attributes:
    classes: Emotion labels, in logit order.
    frontend: Log-mel settings.
    stem_channels: Channels of each branch of the multi-scale first layer.
    block_channels: Output channels of the residual blocks.
    embedding_dim: Size of the L2-normalised embedding.
    am_scale, am_margin: AM-softmax s and m (m = 0 gives a cosine-softmax classifier).
    dropout: Before the embedding layer.
    spec_augment: SpecAugment masks while training (never in the exported graph).
    attributes: Attribute heads (empty: plain emotion model).
    speaker_normalise: Standardise pooled features per speaker (`SpeakerNormalisation`).
    speaker_prior_utterances: Weight of the population prior in those statistics,
        in utterances: how much a speaker's first few utterances are trusted.
    """

    classes: tuple[str, ...]
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    stem_channels: int = 12
    block_channels: tuple[int, ...] = (32, 64, 96, 128)
    embedding_dim: int = 128
    am_scale: float = 30.0
    am_margin: float = 0.2
    dropout: float = 0.2
    spec_augment: bool = True
    attributes: tuple[AttributeHead, ...] = ()
    speaker_normalise: bool = False
    speaker_prior_utterances: float = 4.0

    @property
    def pooled_dim(self) -> int:
        """Size of the pooled features (attentive mean and standard deviation)."""
        return 2 * self.block_channels[-1]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        data = dict(data)
        data["classes"] = tuple(data["classes"])
        data["frontend"] = FrontendConfig(**data["frontend"])
        data["block_channels"] = tuple(data["block_channels"])
        data["attributes"] = tuple(AttributeHead(**a) for a in data.get("attributes", ()))
        return cls(**data)


@dataclass
class ModelOutput:
    logits: torch.Tensor
    embedding: torch.Tensor
    attribute_logits: dict[str, torch.Tensor]
    pooled: torch.Tensor


class MSACSERNet(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.frontend = LogMelFrontend(config.frontend)
        self.spec_augment = SpecAugment(freq_masks=2, freq_width=8, time_masks=2, time_fraction=0.1)
        c = config.stem_channels
        self.stem = nn.ModuleList(
            [
                nn.Conv2d(1, c, (3, 9), padding=(1, 4), bias=False),
                nn.Conv2d(1, c, (9, 3), padding=(4, 1), bias=False),
                nn.Conv2d(1, c, 3, padding=1, bias=False),
            ]
        )
        self.stem_norm = nn.BatchNorm2d(3 * c)
        blocks = []
        channels_in = 3 * c
        for i, channels_out in enumerate(config.block_channels):
            blocks.append(ResidualBlock(channels_in, channels_out, stride=2 if i < 3 else 1))
            channels_in = channels_out
        self.blocks = nn.Sequential(*blocks)
        self.pooling = AttentiveStatisticsPooling(channels_in)
        pooled = config.pooled_dim
        self.speaker_normalisation = (
            SpeakerNormalisation(pooled, config.speaker_prior_utterances)
            if config.speaker_normalise
            else None
        )
        self.dropout = nn.Dropout(config.dropout)
        self.embed = nn.Linear(pooled, config.embedding_dim)
        self.emotion = AdditiveMarginSoftmax(
            config.embedding_dim, len(config.classes), config.am_scale, config.am_margin
        )
        self.attribute_heads = nn.ModuleDict(
            {
                head.name: nn.Sequential(
                    nn.Linear(pooled, 128), nn.ReLU(), nn.Linear(128, head.classes)
                )
                for head in config.attributes
            }
        )

    @property
    def min_samples(self) -> int:
        """Shortest waveform the network accepts: the frontend's padding and 1/8 pooling."""
        return max(self.config.frontend.min_samples, 8 * self.config.frontend.hop_samples)

    def pooled(self, waveform: torch.Tensor) -> torch.Tensor:
        features = self.frontend(waveform)
        if self.config.spec_augment:
            features = self.spec_augment(features)
        features = features[:, None]  # [batch, 1, mels, frames]
        x = torch.cat([conv(features) for conv in self.stem], dim=1)
        x = self.blocks(F.relu(self.stem_norm(x)))
        return self.pooling(x.mean(dim=2))  # average over frequency

    def forward(
        self,
        waveform: torch.Tensor,
        labels: torch.Tensor | None = None,
        reversal_coefficient: float = 1.0,
        context: SpeakerContext | None = None,
        batch_speakers: torch.Tensor | None = None,
    ) -> ModelOutput:
        """`context` is ignored without speaker normalisation; None means no other
        utterance of the speaker is known (the population prior alone). In training,
        `batch_speakers` (a speaker code per row) builds the context from the batch."""
        pooled = self.pooled(waveform)
        if context is None and batch_speakers is not None and self.config.speaker_normalise:
            context = batch_context(pooled, batch_speakers)
        return self.head(pooled, labels, reversal_coefficient, context)

    def head(
        self,
        pooled: torch.Tensor,
        labels: torch.Tensor | None = None,
        reversal_coefficient: float = 1.0,
        context: SpeakerContext | None = None,
    ) -> ModelOutput:
        """Everything after pooling: evaluation runs it again once a speaker's
        statistics are known, without recomputing the convolutions."""
        features = pooled
        if self.speaker_normalisation is not None:
            if context is None:
                zeros = torch.zeros_like(pooled)
                context = (zeros, zeros, pooled.new_zeros(len(pooled)))
            features = self.speaker_normalisation(pooled, *context)
        embedding = F.normalize(self.embed(self.dropout(features)), dim=1)
        logits = self.emotion(embedding, labels)
        attribute_logits = {}
        for head in self.config.attributes:
            source = pooled
            if head.mode == "adversarial":
                source = reverse_gradient(pooled, reversal_coefficient)
            attribute_logits[head.name] = self.attribute_heads[head.name](source)
        return ModelOutput(
            logits=logits, embedding=embedding, attribute_logits=attribute_logits, pooled=pooled
        )


def batch_context(pooled: torch.Tensor, speakers: torch.Tensor) -> SpeakerContext:
    """Each row's context: a random subset of the other rows of its speaker.

    Every row draws its own inclusion probability, so the number of known
    utterances ranges from none (a stream's first utterance) to all of them.
    """
    same = speakers[:, None] == speakers[None, :]
    same &= ~torch.eye(len(speakers), dtype=torch.bool, device=pooled.device)
    probability = torch.rand(len(speakers), 1, device=pooled.device)
    mask = (same & (torch.rand_like(same, dtype=pooled.dtype) < probability)).to(pooled.dtype)
    return mask @ pooled, mask @ pooled.square(), mask.sum(dim=1)


class ExportWrapper(nn.Module):
    """waveform -> (logits, embedding): the two outputs of the model file."""

    def __init__(self, model: MSACSERNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output = self.model(waveform)
        return output.logits, output.embedding


class SpeakerExportWrapper(ExportWrapper):
    """(waveform, speaker statistics) -> (logits, embedding, pooled features): the
    model file of a speaker-normalised model, whose caller keeps the statistics."""

    def forward(  # type: ignore[override]
        self,
        waveform: torch.Tensor,
        speaker_sum: torch.Tensor,
        speaker_sum_squares: torch.Tensor,
        speaker_count: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        context = (speaker_sum, speaker_sum_squares, speaker_count)
        output = self.model(waveform, context=context)
        return output.logits, output.embedding, output.pooled
