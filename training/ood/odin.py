"""ODIN with input perturbation (Liang et al. 2018), on the training side only.

ODIN nudges the input a step `epsilon` in the direction that raises the top
class's temperature-scaled softmax probability, then scores the nudged input by
that probability. In-distribution inputs respond more to the nudge than OOD
inputs, which widens the gap. The nudge needs the gradient with respect to the
waveform, so it runs on a torch checkpoint; the exported ONNX model has no such
gradient, and the runtime can apply only the temperature (`msp` with a
calibrated temperature), which `training.ood.evaluation` reports as `odin`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from streamser.audio.formats import int16_to_float
from streamser.constants import SAMPLE_RATE_HZ
from streamser.model import fit_length
from training.model.msac_sernet import MSACSERNet

DEFAULT_TEMPERATURE = 1000.0
DEFAULT_EPSILON = 1e-4
"""Per-sample step on the [-1, 1] waveform: about -80 dBFS, well under audibility."""


def odin_scores(
    model: MSACSERNet,
    audio: Sequence[np.ndarray],
    temperature: float = DEFAULT_TEMPERATURE,
    epsilon: float = DEFAULT_EPSILON,
    max_seconds: float = 30.0,
) -> np.ndarray:
    """ODIN scores ("higher = ID") of int16 utterances, one at a time, prepared as
    `training.predict.predict` prepares them.

    Args:
        model: The trained network.
        audio: int16 utterances at the canonical rate.
        temperature: Softmax temperature.
        epsilon: Size of the signed-gradient step; 0 gives temperature-scaled MSP.
        max_seconds: Centre crop, as at evaluation.
    """
    model.eval()
    limit = int(max_seconds * SAMPLE_RATE_HZ)
    scores = []
    for samples in audio:
        waveform = fit_length(int16_to_float(samples), model.min_samples, limit)
        x = torch.from_numpy(np.ascontiguousarray(waveform))[None].requires_grad_(True)
        log_probs = torch.log_softmax(model(x).logits / temperature, dim=-1)
        log_probs.max(dim=-1).values.sum().backward()
        assert x.grad is not None
        with torch.no_grad():
            nudged = x + epsilon * x.grad.sign()
            probs = torch.softmax(model(nudged).logits / temperature, dim=-1)
        scores.append(float(probs.max()))
    return np.array(scores)
