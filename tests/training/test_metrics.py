"""UA and WA as the literature reports them."""

from __future__ import annotations

import warnings

import pytest

from training.metrics import unweighted_accuracy, weighted_accuracy


def test_ua_is_the_mean_recall_so_the_majority_class_earns_nothing_extra():
    true = [0, 0, 0, 0, 1]
    always_majority = [0, 0, 0, 0, 0]
    assert weighted_accuracy(true, always_majority) == pytest.approx(0.8)
    assert unweighted_accuracy(true, always_majority) == pytest.approx(0.5)


def test_ua_averages_only_the_classes_present_and_says_nothing_of_the_others():
    """A held-out speaker without one emotion: a prediction of it is an error of the
    class it was, not a recall of its own."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert unweighted_accuracy([0, 0, 1, 1], [0, 2, 1, 1]) == pytest.approx(0.75)
