"""The training-specific layers do what their papers say."""

import torch
from torch.nn import functional as F

from training.model.layers import AdditiveMarginSoftmax, SpecAugment, reverse_gradient


def test_am_softmax_subtracts_the_margin_from_the_target_class_only():
    head = AdditiveMarginSoftmax(embedding_dim=8, classes=4, scale=30.0, margin=0.2)
    embedding = F.normalize(torch.randn(5, 8), dim=1)
    labels = torch.tensor([0, 1, 2, 3, 1])
    plain = head(embedding)
    margined = head(embedding, labels)
    difference = plain - margined
    target = F.one_hot(labels, 4).bool()
    torch.testing.assert_close(difference[target], torch.full((5,), 30.0 * 0.2))
    torch.testing.assert_close(difference[~target], torch.zeros(15))


def test_am_softmax_at_inference_is_the_scaled_cosine():
    head = AdditiveMarginSoftmax(embedding_dim=8, classes=3, scale=10.0, margin=0.35)
    embedding = F.normalize(torch.randn(4, 8), dim=1)
    cosine = embedding @ F.normalize(head.weight, dim=1).T
    torch.testing.assert_close(head(embedding), 10.0 * cosine)
    assert head(embedding).abs().max() <= 10.0 + 1e-5


def test_gradient_reversal_is_identity_forward_and_flips_the_gradient():
    x = torch.randn(3, 4, requires_grad=True)
    y = reverse_gradient(x, 0.7)
    torch.testing.assert_close(y, x)
    weights = torch.randn(3, 4)
    (y * weights).sum().backward()
    torch.testing.assert_close(x.grad, -0.7 * weights)


def test_spec_augment_masks_only_in_training_mode():
    augment = SpecAugment(freq_masks=2, freq_width=8, time_masks=2, time_fraction=0.2)
    features = torch.ones(4, 64, 100)
    augment.eval()
    torch.testing.assert_close(augment(features), features)
    augment.train()
    torch.manual_seed(0)
    masked = augment(features)
    assert (masked == 0).any()
    assert (masked == 1).float().mean() > 0.5
