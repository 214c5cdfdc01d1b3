"""Implicit distribution alignment (IDA): reconstruct one domain's features from the other's.

Our reading of DIDAN (Zhao et al., ICASSP 2023, arXiv 2302.08921) and LIDAN (arXiv
2310.03992), whose abstracts describe aligning corpora by "target sample
reconstruction" without assuming a distribution form; their method sections' equations
were not available to us.

- In a mini-batch, with source features S [n_s, d] and target features T [n_t, d], a
  coefficient matrix A [n_t, n_s] writes every target row as a combination of source
  rows, T ~ A S. A is solved per batch, not learned: ridge in closed form, or a few
  FISTA steps for an L1 penalty (a sparse reconstruction: each row from few others).
  It is held constant in the backward pass (exact for ridge by Danskin's theorem).
- Rows are L2-normalised first and errors are relative, so shrinking the features
  cannot win.
- "absolute" reference (the first reading): the loss is the error of T ~ A S. A span is
  a statement about rank: with more dimensions than source rows, two samples of one
  distribution reconstruct well when their features use few directions, and a target
  squeezed into a corner of the source costs nothing. Training with it concentrates the
  features (docs/CROSS_CORPUS.md measures this).
- "relative" reference (the fix, the default): each domain reconstructed from the other,
  minus each domain reconstructed from itself with every row left out of its own
  reconstruction. About zero for two samples of one distribution at any rank, positive
  when either domain lies where the other has no samples; the within-domain terms keep
  a domain from collapsing, since collapse makes it easy to reconstruct from itself. It
  needs more rows per batch than the features have effective directions: with fewer,
  no reconstruction (within or across) can tell distributions apart.
- Class-aware IDA reconstructs target samples of pseudo-class k only from source
  samples of class k (conditional alignment), once the classifier is warm.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

SOLVERS = ("ridge", "sparse")
REFERENCES = ("relative", "absolute")


def _masked_gram(s: torch.Tensor, ridge: float, exclude_self: bool) -> torch.Tensor:
    """[n, n] Gram + ridge I, or with exclude_self [n, n, n]: for probe i the Gram of the
    dictionary without row i (its row and column zeroed, so its coefficient is 0)."""
    eye = torch.eye(len(s), dtype=s.dtype, device=s.device)
    gram = s @ s.T
    if not exclude_self:
        return gram + ridge * eye
    keep = 1.0 - eye  # [probe, atom]
    return gram[None] * keep[:, :, None] * keep[:, None, :] + ridge * eye[None]


def ridge_reconstruction(
    source: torch.Tensor, target: torch.Tensor, ridge: float, exclude_self: bool = False
) -> torch.Tensor:
    """A [n_t, n_s] minimising ||T - A S||^2 + ridge ||A||^2 (no gradient).

    Solved in the n_s x n_s Gram space, so the cost does not grow with d. With
    `exclude_self` (target is source) row i is reconstructed from the other rows.
    """
    with torch.no_grad():
        s = source.double()
        cross = target.double() @ s.T  # [n_t, n_s]
        gram = _masked_gram(s, ridge, exclude_self)
        if not exclude_self:
            return torch.linalg.solve(gram, cross.T).T.to(source.dtype)
        cross = cross * (1.0 - torch.eye(len(s), dtype=s.dtype, device=s.device))
        return torch.linalg.solve(gram, cross[:, :, None])[:, :, 0].to(source.dtype)


def sparse_reconstruction(
    source: torch.Tensor,
    target: torch.Tensor,
    l1: float,
    ridge: float,
    steps: int,
    exclude_self: bool = False,
) -> torch.Tensor:
    """A from `steps` FISTA iterations on 0.5||T - A S||^2 + 0.5 ridge ||A||^2 + l1 ||A||_1.

    Starts from zero, so few steps and a large `l1` give few non-zero coefficients.
    With `exclude_self` (target is source) row i's own coefficient is held at 0.
    """
    with torch.no_grad():
        s = source.double()
        t = target.double()
        gram = s @ s.T + ridge * torch.eye(len(s), dtype=s.dtype, device=s.device)
        cross = t @ s.T
        lipschitz = torch.linalg.eigvalsh(gram)[-1].clamp(min=1e-8)
        step = 1.0 / lipschitz
        keep = 1.0 - torch.eye(len(s), dtype=s.dtype) if exclude_self else None
        a = torch.zeros(len(t), len(s), dtype=s.dtype, device=s.device)
        y = a
        momentum = 1.0
        for _ in range(steps):
            gradient = y @ gram - cross
            z = y - step * gradient
            a_next = torch.sign(z) * (z.abs() - step * l1).clamp(min=0)
            if keep is not None:
                a_next = a_next * keep
            momentum_next = (1 + (1 + 4 * momentum**2) ** 0.5) / 2
            y = a_next + ((momentum - 1) / momentum_next) * (a_next - a)
            a, momentum = a_next, momentum_next
        return a.to(source.dtype)


def reconstruction_error(
    dictionary: torch.Tensor,
    probes: torch.Tensor,
    solver: str = "ridge",
    ridge: float = 0.1,
    l1: float = 0.05,
    fista_steps: int = 10,
    exclude_self: bool = False,
) -> torch.Tensor:
    """(||P - A D||^2 + penalties(A)) / ||P||^2 at the solved A (held constant for the
    gradient); with `exclude_self` the probes are the dictionary, each row left out of
    its own reconstruction."""
    if solver == "ridge":
        a = ridge_reconstruction(dictionary, probes, ridge, exclude_self)
        penalty = ridge * a.square().sum()
    else:
        a = sparse_reconstruction(dictionary, probes, l1, ridge, fista_steps, exclude_self)
        # Twice the FISTA objective, so that both solvers report on one scale.
        penalty = ridge * a.square().sum() + 2 * l1 * a.abs().sum()
    residual = (probes - a @ dictionary).square().sum()
    return (residual + penalty) / probes.square().sum().clamp(min=1e-8)


def ida_loss(
    source: torch.Tensor,
    target: torch.Tensor,
    solver: str = "ridge",
    ridge: float = 0.1,
    l1: float = 0.05,
    fista_steps: int = 10,
    normalise: bool = True,
    reference: str = "relative",
) -> torch.Tensor:
    """Implicit distribution alignment of `source` [n_s, d] and `target` [n_t, d].

    Args:
        solver: "ridge" (closed form, dense) or "sparse" (FISTA with an L1 penalty).
        ridge: L2 penalty on the coefficients (also keeps the solve well posed).
        l1: L1 penalty of the sparse solver.
        fista_steps: Iterations of the sparse solver.
        normalise: L2-normalise rows first (the guard against shrinking features).
        reference: "absolute": the error of reconstructing the target from the source
            (about 0 when every target row lies in the span of the source rows, up to 1
            when orthogonal to it); minimised by concentrating every feature on a few
            directions, so it collapses features. "relative": each domain reconstructed
            from the other, minus each reconstructed from itself (every row left out of
            its own reconstruction): about 0 for two samples of one distribution,
            whatever its rank, and positive when either domain lies where the other
            has no samples.
    """
    if solver not in SOLVERS:
        raise ValueError(f"IDA solver {solver!r}: expected one of {', '.join(SOLVERS)}")
    if reference not in REFERENCES:
        raise ValueError(f"IDA reference {reference!r}: expected {' or '.join(REFERENCES)}")
    if normalise:
        source = F.normalize(source, dim=1)
        target = F.normalize(target, dim=1)
    options = dict(solver=solver, ridge=ridge, l1=l1, fista_steps=fista_steps)
    across = reconstruction_error(source, target, **options)
    if reference == "absolute":
        return across
    back = reconstruction_error(target, source, **options)
    within_source = reconstruction_error(source, source, exclude_self=True, **options)
    within_target = reconstruction_error(target, target, exclude_self=True, **options)
    return 0.5 * (across + back - within_source - within_target)


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
