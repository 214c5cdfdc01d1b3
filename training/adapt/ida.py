"""Implicit distribution alignment (IDA): reconstruct target features from source features.

Our reading of DIDAN (Zhao et al., ICASSP 2023, arXiv 2302.08921) and LIDAN
(arXiv 2310.03992). The papers' exact equations were not available to us, so
this is an implementation of the idea as described in their abstracts, choice by
choice:

- In a mini-batch with source features S [n_s, d] and target features T [n_t, d],
  a reconstruction matrix A [n_t, n_s] writes every target feature as a linear
  combination of source features, T ~ A S. If the two feature distributions
  match, each target sample lies where source samples are, and the residual is
  small; no distribution form is assumed (unlike MMD's kernels or CORAL's
  second moments).
- A is solved per mini-batch, not learned: in closed form with a ridge penalty
  (A = T S^T (S S^T + lambda I)^-1), or with a few FISTA steps for an L1
  (sparse) penalty, so that each target sample is explained by a few source
  samples (a local, not a global, linear fit).
- The loss is the value of the reconstruction objective at that A, divided by
  ||T||^2. A is treated as a constant when differentiating; for the ridge
  solution this is exact (Danskin's theorem: the gradient of min_A f(A, S, T) is
  the partial gradient at the minimiser), for FISTA it is the usual alternating
  step. Gradients reach both S and T.
- Guards against the trivial solution of shrinking the features: rows are
  L2-normalised before the fit (a feature cannot shrink on the unit sphere) and
  the residual is relative. A reconstruction can only be informative when the
  source batch does not span the whole feature space, so the feature dimension
  should exceed the source batch size (128-d features, 32-sample batches by
  default); the ridge penalty adds a further cost for large coefficients.
- Class-aware IDA reconstructs target samples of pseudo-class k only from source
  samples of class k (conditional alignment), once the classifier is warm.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

SOLVERS = ("ridge", "sparse")


def ridge_reconstruction(source: torch.Tensor, target: torch.Tensor, ridge: float) -> torch.Tensor:
    """A [n_t, n_s] minimising ||T - A S||^2 + ridge ||A||^2 (no gradient).

    Solved in the n_s x n_s Gram space, so the cost does not grow with d.
    """
    with torch.no_grad():
        s = source.double()
        gram = s @ s.T
        gram = gram + ridge * torch.eye(len(s), dtype=s.dtype, device=s.device)
        cross = target.double() @ s.T  # [n_t, n_s]
        return torch.linalg.solve(gram, cross.T).T.to(source.dtype)


def sparse_reconstruction(
    source: torch.Tensor, target: torch.Tensor, l1: float, ridge: float, steps: int
) -> torch.Tensor:
    """A from `steps` FISTA iterations on 0.5||T - A S||^2 + 0.5 ridge ||A||^2 + l1 ||A||_1.

    Starts from zero, so few steps and a large `l1` give few non-zero coefficients.
    """
    with torch.no_grad():
        s = source.double()
        t = target.double()
        gram = s @ s.T + ridge * torch.eye(len(s), dtype=s.dtype, device=s.device)
        cross = t @ s.T
        lipschitz = torch.linalg.eigvalsh(gram)[-1].clamp(min=1e-8)
        step = 1.0 / lipschitz
        a = torch.zeros(len(t), len(s), dtype=s.dtype, device=s.device)
        y = a
        momentum = 1.0
        for _ in range(steps):
            gradient = y @ gram - cross
            z = y - step * gradient
            a_next = torch.sign(z) * (z.abs() - step * l1).clamp(min=0)
            momentum_next = (1 + (1 + 4 * momentum**2) ** 0.5) / 2
            y = a_next + ((momentum - 1) / momentum_next) * (a_next - a)
            a, momentum = a_next, momentum_next
        return a.to(source.dtype)


def ida_loss(
    source: torch.Tensor,
    target: torch.Tensor,
    solver: str = "ridge",
    ridge: float = 0.1,
    l1: float = 0.05,
    fista_steps: int = 10,
    normalise: bool = True,
) -> torch.Tensor:
    """Relative error of reconstructing `target` [n_t, d] from `source` [n_s, d].

    Args:
        solver: "ridge" (closed form) or "sparse" (FISTA with an L1 penalty).
        ridge: L2 penalty on the coefficients (also keeps the solve well posed).
        l1: L1 penalty of the sparse solver.
        fista_steps: Iterations of the sparse solver.
        normalise: L2-normalise rows first (the guard against shrinking features).

    Returns:
        A scalar: (||T - A S||^2 + penalties(A)) / ||T||^2, about 0 when every
        target row lies in the span of the source rows, up to 1 when it is
        orthogonal to it.
    """
    if solver not in SOLVERS:
        raise ValueError(f"IDA solver {solver!r}: expected one of {', '.join(SOLVERS)}")
    if normalise:
        source = F.normalize(source, dim=1)
        target = F.normalize(target, dim=1)
    if solver == "ridge":
        a = ridge_reconstruction(source, target, ridge)
        penalty = ridge * a.square().sum()
    else:
        a = sparse_reconstruction(source, target, l1, ridge, fista_steps)
        # Twice the FISTA objective, so that both solvers report on one scale.
        penalty = ridge * a.square().sum() + 2 * l1 * a.abs().sum()
    residual = (target - a @ source).square().sum()
    return (residual + penalty) / target.square().sum().clamp(min=1e-8)


def class_aware_ida_loss(
    source: torch.Tensor,
    source_labels: torch.Tensor,
    target: torch.Tensor,
    target_pseudo: torch.Tensor,
    min_samples: int = 2,
    **options,
) -> torch.Tensor | None:
    """Mean IDA loss over classes, target rows of pseudo-class k from source rows of class k.

    Classes with fewer than `min_samples` rows on either side are skipped;
    returns None when no class qualifies.
    """
    losses, weights = [], []
    for k in torch.unique(target_pseudo).tolist():
        s = source[source_labels == k]
        t = target[target_pseudo == k]
        if len(s) >= min_samples and len(t) >= min_samples:
            losses.append(ida_loss(s, t, **options))
            weights.append(len(t))
    if not losses:
        return None
    share = torch.tensor(weights, dtype=source.dtype, device=source.device)
    return (torch.stack(losses) * share).sum() / share.sum()
