"""The alignment losses DIDAN is compared with: multi-kernel MMD, Deep CORAL and DANN.

All act on the same feature layer of the same network as IDA, so that a table
row differs from another only in the loss.
"""

from __future__ import annotations

import torch
from torch import nn

from training.model.layers import reverse_gradient

MMD_BANDWIDTH_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)


def mmd_loss(
    source: torch.Tensor,
    target: torch.Tensor,
    factors: tuple[float, ...] = MMD_BANDWIDTH_FACTORS,
) -> torch.Tensor:
    """Multi-kernel MMD^2 (Long et al. 2015, DAN): a sum of Gaussian kernels (biased estimate).

    Bandwidths are `factors` times the median pairwise squared distance of the
    joint batch (the median heuristic), fixed per batch without gradient.
    """
    joint = torch.cat([source, target])
    distances = torch.cdist(joint, joint).square()
    with torch.no_grad():
        median = distances[distances > 0].median().clamp(min=1e-6)
    kernel = sum(torch.exp(-distances / (factor * median)) for factor in factors)
    n = len(source)
    return kernel[:n, :n].mean() + kernel[n:, n:].mean() - 2 * kernel[:n, n:].mean()


def coral_loss(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Deep CORAL (Sun & Saenko 2016): ||C_s - C_t||_F^2 / (4 d^2)."""
    d = source.shape[1]
    return (covariance(source) - covariance(target)).square().sum() / (4 * d * d)


def covariance(x: torch.Tensor) -> torch.Tensor:
    centred = x - x.mean(dim=0, keepdim=True)
    return centred.T @ centred / max(len(x) - 1, 1)


class DomainClassifier(nn.Module):
    """DANN's discriminator (Ganin et al. 2016) behind a gradient-reversal layer."""

    def __init__(self, features: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(hidden, 1)
        )

    def loss(self, source: torch.Tensor, target: torch.Tensor, coefficient: float) -> torch.Tensor:
        """Binary cross-entropy of source (0) vs target (1); reversed gradient into the features."""
        joint = reverse_gradient(torch.cat([source, target]), coefficient)
        labels = torch.cat([torch.zeros(len(source)), torch.ones(len(target))]).to(joint)
        return nn.functional.binary_cross_entropy_with_logits(self.net(joint)[:, 0], labels)
