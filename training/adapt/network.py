"""The DIDAN regression network: convolutions and fully connected layers over log-mel maps.

DIDAN adapts "a deep regression network of convolutional and fully connected
layers on spectrograms"; the layer sizes are ours, chosen to be cheap enough for
six tasks x six methods x three seeds on two CPU cores:

- The shared log-mel frontend (in the graph, as for MSAC-SERNet), then average
  pooling to half the mel bands and 40 ms frames. The pooled map is a function
  of the waveform alone (no parameters), so an experiment computes it once per
  utterance and trains the rest on cached maps (`head`); the exported graph runs
  both, so the runtime hears exactly what training saw.
- Three 3x3 convolution blocks (batch norm, ReLU, 2x2 max pooling), frequency
  averaged away, mean and standard deviation over time: any length works.
- FC1 (256) and FC2 (128) with ReLU: the layers alignment acts on (FC2 for
  DIDAN and the baselines, both for LIDAN); a linear output layer gives one
  score per emotion, trained as a regression on one-hot targets by default.
- The exported `embedding` is FC2 before its ReLU, L2-normalised; `logits` are the scores.

With `features="encoder"` the convolutions give way to the frozen encoder's
utterance vector (`training.adapt.features`): batch norm on the vector, then the same
FC1, FC2 and output layers, so every alignment term acts on the same layers. Such a
network has no waveform path of its own: the encoder computes its input, and its model
file puts the encoder's graph in front of these layers (`training.adapt.encoder_export`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from training.config import FrontendConfig
from training.model.frontend import LogMelFrontend

FEATURES = ("log-mel", "encoder")
"""What the network reads: pooled log-mel maps, or frozen encoder vectors."""


@dataclass(frozen=True)
class DidanConfig:
    """Attributes:
    classes: Emotion labels, in output order.
    frontend: Log-mel settings (the shared frontend).
    mel_pool, time_pool: Average-pooling factors applied to the log-mel map.
    conv_channels: Output channels of the convolution blocks.
    hidden_dim: Width of FC1.
    embedding_dim: Width of FC2 (the embedding and main alignment layer).
    dropout: After FC1 while training.
    coarse_classes: Size of an extra head on FC1 (LIDAN's coarse labels); 0: none.
    features: "log-mel" (pooled maps through the convolutions) or "encoder" (a frozen
        encoder vector per utterance through batch norm straight into FC1).
    vector_dim: Width of the encoder vector (features="encoder" only).
    """

    classes: tuple[str, ...]
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    mel_pool: int = 2
    time_pool: int = 4
    conv_channels: tuple[int, ...] = (16, 32, 64)
    hidden_dim: int = 256
    embedding_dim: int = 128
    dropout: float = 0.3
    coarse_classes: int = 0
    features: str = "log-mel"
    vector_dim: int = 0

    def __post_init__(self) -> None:
        if self.features not in FEATURES:
            raise ValueError(f"features {self.features!r}: expected {' or '.join(FEATURES)}")
        if self.features == "encoder" and self.vector_dim < 1:
            raise ValueError("encoder features need vector_dim >= 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DidanConfig:
        data = dict(data)
        data["classes"] = tuple(data["classes"])
        data["frontend"] = FrontendConfig(**data["frontend"])
        data["conv_channels"] = tuple(data["conv_channels"])
        return cls(**data)


@dataclass
class AdaptOutput:
    """Attributes:
    logits: [batch, classes] emotion scores.
    embedding: [batch, embedding_dim] L2-normalised FC2 (before its ReLU).
    layers: FC1 and FC2 activations, the features alignment losses act on.
    coarse_logits: LIDAN's coarse head on FC1, or None.
    """

    logits: torch.Tensor
    embedding: torch.Tensor
    layers: tuple[torch.Tensor, ...]
    coarse_logits: torch.Tensor | None = None


class DidanNet(nn.Module):
    def __init__(self, config: DidanConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder_input = config.features == "encoder"
        if self.encoder_input:
            self.input_norm = nn.BatchNorm1d(config.vector_dim)
            width = config.vector_dim
        else:
            self.frontend = LogMelFrontend(config.frontend)
            blocks: list[nn.Module] = []
            channels_in = 1
            for channels_out in config.conv_channels:
                blocks += [
                    nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False),
                    nn.BatchNorm2d(channels_out),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                ]
                channels_in = channels_out
            self.convolutions = nn.Sequential(*blocks)
            width = 2 * channels_in
        self.fc1 = nn.Linear(width, config.hidden_dim)
        self.dropout = nn.Dropout(config.dropout)
        self.fc2 = nn.Linear(config.hidden_dim, config.embedding_dim)
        self.output = nn.Linear(config.embedding_dim, len(config.classes))
        self.coarse = (
            nn.Linear(config.hidden_dim, config.coarse_classes) if config.coarse_classes else None
        )

    @property
    def min_samples(self) -> int:
        """Enough frames for one frame after the time pooling and every max pooling."""
        frames = self.config.time_pool * 2 ** len(self.config.conv_channels)
        return max(self.config.frontend.min_samples, frames * self.config.frontend.hop_samples)

    def maps(self, waveform: torch.Tensor) -> torch.Tensor:
        """[batch, samples] -> [batch, mels / mel_pool, frames / time_pool] pooled log-mel."""
        if self.encoder_input:
            raise ValueError("an encoder-feature network reads encoder vectors, not audio")
        features = self.frontend(waveform)[:, None]
        pool = (self.config.mel_pool, self.config.time_pool)
        return F.avg_pool2d(features, pool, pool)[:, 0]

    def head(self, maps: torch.Tensor) -> AdaptOutput:
        """Everything after the pooled maps (or on the encoder vectors, [batch, vector_dim]):
        the trainable network."""
        fc1 = F.relu(self.fc1(self.pooled(maps)))
        projected = self.fc2(self.dropout(fc1))
        fc2 = F.relu(projected)
        return AdaptOutput(
            logits=self.output(fc2),
            embedding=F.normalize(projected, dim=1),
            layers=(fc1, fc2),
            coarse_logits=self.coarse(fc1) if self.coarse is not None else None,
        )

    def pooled(self, inputs: torch.Tensor) -> torch.Tensor:
        """FC1's input: the convolutions' mean and standard deviation over time, or the
        normalised encoder vector."""
        if self.encoder_input:
            if inputs.dim() != 2:
                raise ValueError(
                    f"encoder vectors expected, [batch, dim]; got {tuple(inputs.shape)}"
                )
            return self.input_norm(inputs)
        x = self.convolutions(inputs[:, None]).mean(dim=2)  # [batch, channels, frames]
        mean = x.mean(dim=-1)
        std = torch.sqrt((x.square().mean(dim=-1) - mean.square()).clamp(min=1e-6))
        return torch.cat([mean, std], dim=1)

    def forward(self, waveform: torch.Tensor) -> AdaptOutput:
        return self.head(self.maps(waveform))
