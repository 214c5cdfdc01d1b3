"""Building blocks of MSAC-SERNet that are not specific to it."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class GradientReversal(torch.autograd.Function):
    """Identity forward; multiplies the gradient by -coefficient backward (Ganin & Lempitsky 2015).

    A head behind it learns to predict an attribute while the trunk is pushed to
    make that attribute unpredictable.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, coefficient: float) -> torch.Tensor:
        ctx.coefficient = coefficient
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.coefficient * grad, None


def reverse_gradient(x: torch.Tensor, coefficient: float) -> torch.Tensor:
    return GradientReversal.apply(x, coefficient)


class AdditiveMarginSoftmax(nn.Module):
    """Cosine classifier with an additive margin on the target class (Wang et al. 2018).

    Training logits are s * (cos(theta_y) - m) for the target and s * cos(theta_j)
    otherwise; without labels (inference, export) they are s * cos(theta), so the
    exported model's logits are plain scaled cosines.
    """

    def __init__(self, embedding_dim: int, classes: int, scale: float, margin: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(classes, embedding_dim))
        nn.init.xavier_uniform_(self.weight)
        self.scale = scale
        self.margin = margin

    def cosine(self, embedding: torch.Tensor) -> torch.Tensor:
        """`embedding` must already be L2-normalised."""
        return embedding @ F.normalize(self.weight, dim=1).T

    def forward(self, embedding: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cosine = self.cosine(embedding)
        if labels is None or self.margin == 0:
            return self.scale * cosine
        margin = F.one_hot(labels, cosine.shape[1]).to(cosine.dtype) * self.margin
        return self.scale * (cosine - margin)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, squeeze-excitation and a projected shortcut."""

    def __init__(self, channels_in: int, channels_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.excite = SqueezeExcitation(channels_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or channels_in != channels_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False),
                nn.BatchNorm2d(channels_out),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.excite(self.bn2(self.conv2(out)))
        return F.relu(out + self.shortcut(x))


class SqueezeExcitation(nn.Module):
    """Channel gating from global context (Hu et al. 2018): cheap, helps small CNNs."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        self.gate = nn.Sequential(
            nn.Linear(channels, max(channels // reduction, 4)),
            nn.ReLU(),
            nn.Linear(max(channels // reduction, 4), channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x.mean(dim=(2, 3)))[:, :, None, None]


class AttentiveStatisticsPooling(nn.Module):
    """Attention-weighted mean and standard deviation over time (Okabe et al. 2018).

    Emotion is carried by a few salient stretches of an utterance; attention lets
    them dominate, and the standard deviation keeps prosodic variability.
    """

    def __init__(self, channels: int, hidden: int = 64) -> None:
        super().__init__()
        self.attention = nn.Sequential(
            nn.Conv1d(channels, hidden, 1), nn.Tanh(), nn.Conv1d(hidden, channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, channels, time] -> [batch, 2 * channels]."""
        weights = torch.softmax(self.attention(x), dim=-1)
        mean = (weights * x).sum(dim=-1)
        variance = (weights * x.square()).sum(dim=-1) - mean.square()
        return torch.cat([mean, torch.sqrt(variance.clamp(min=1e-6))], dim=1)


class SpecAugment(nn.Module):
    """Frequency and time masks on the features, in training mode only (Park et al. 2019)."""

    def __init__(self, freq_masks: int, freq_width: int, time_masks: int, time_fraction: float):
        super().__init__()
        self.freq_masks = freq_masks
        self.freq_width = freq_width
        self.time_masks = time_masks
        self.time_fraction = time_fraction

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """[batch, mels, frames] -> the same, with masked stripes set to the mean (0)."""
        if not self.training:
            return features
        batch, mels, frames = features.shape
        keep = torch.ones_like(features, dtype=torch.bool)
        bins = torch.arange(mels, device=features.device)[None, :, None]
        steps = torch.arange(frames, device=features.device)[None, None, :]
        for _ in range(self.freq_masks):
            width = torch.randint(0, self.freq_width + 1, (batch, 1, 1), device=features.device)
            start = (torch.rand(batch, 1, 1, device=features.device) * (mels - width)).long()
            keep &= ~((bins >= start) & (bins < start + width))
        max_width = max(int(frames * self.time_fraction), 1)
        for _ in range(self.time_masks):
            width = torch.randint(0, max_width + 1, (batch, 1, 1), device=features.device)
            start = (torch.rand(batch, 1, 1, device=features.device) * (frames - width)).long()
            keep &= ~((steps >= start) & (steps < start + width))
        return features * keep


class SpeakerNormalisation(nn.Module):
    """Standardises an utterance's pooled features with its speaker's own statistics.

    What separates emotions within one voice (higher, louder, tenser than that
    voice's own baseline) is what transfers between voices, corpora and channels;
    the baseline itself (pitch range, timbre, microphone) is mostly nuisance. The
    statistics combine a population prior worth `prior_utterances` utterances, the
    speaker's other utterances (`context`: their sum, sum of squares and count;
    zero for a speaker's first utterance) and the utterance itself, so one formula
    covers training (other utterances of the speaker in the batch), evaluation
    (the speaker's other test utterances) and the runtime (the stream's earlier
    utterances, kept by `streamser.speaker`).

    The population prior is a running mean and variance of the pooled features,
    updated while training like batch normalisation's running statistics.
    """

    def __init__(self, dim: int, prior_utterances: float, momentum: float = 0.02) -> None:
        super().__init__()
        self.prior_utterances = prior_utterances
        self.momentum = momentum
        self.register_buffer("population_mean", torch.zeros(dim))
        self.register_buffer("population_var", torch.ones(dim))

    def forward(
        self,
        pooled: torch.Tensor,
        context_sum: torch.Tensor,
        context_sum_squares: torch.Tensor,
        context_count: torch.Tensor,
    ) -> torch.Tensor:
        """[batch, dim] features and their speakers' context -> [batch, dim] normalised."""
        if self.training:
            with torch.no_grad():
                batch_mean = pooled.mean(dim=0)
                batch_var = pooled.var(dim=0, unbiased=False)
                self.population_mean.lerp_(batch_mean, self.momentum)
                self.population_var.lerp_(batch_var, self.momentum)
        prior = self.prior_utterances
        weight = (context_count + 1.0 + prior)[:, None]
        mean = (prior * self.population_mean + context_sum + pooled) / weight
        second_moment = (
            prior * (self.population_var + self.population_mean.square())
            + context_sum_squares
            + pooled.square()
        ) / weight
        variance = (second_moment - mean.square()).clamp(min=1e-4)
        return (pooled - mean) / torch.sqrt(variance)
