"""ODIN with input perturbation: epsilon 0 is temperature-scaled MSP; the step raises it."""

import numpy as np
import torch

from streamser.ood import msp
from training.model.msac_sernet import ModelConfig, MSACSERNet
from training.ood.odin import odin_scores
from training.predict import predict


def test_odin_is_scaled_msp_without_the_step_and_the_step_raises_it():
    torch.manual_seed(0)
    model = MSACSERNet(ModelConfig(classes=("neutral", "happy", "angry", "sad")))
    rng = np.random.default_rng(0)
    audio = [(3000 * rng.standard_normal(n)).astype(np.int16) for n in (6000, 9000)]
    logits, _ = predict(model, audio, 30.0)
    plain = odin_scores(model, audio, temperature=10.0, epsilon=0.0)
    np.testing.assert_allclose(plain, msp(logits, 10.0), rtol=1e-5)
    assert np.all(odin_scores(model, audio, temperature=10.0, epsilon=1e-3) > plain)
