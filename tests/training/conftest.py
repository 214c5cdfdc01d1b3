"""Fixtures for the training tests: a tiny SynthEmo corpus, made once per session."""

from __future__ import annotations

import pytest

from streamser.labels import FOUR_CLASS
from training.synthemo.generate import generate
from training.synthemo.plan import SynthOptions


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """Manifest of a 4-class espeak-ng + flite corpus: small, but several speakers per engine."""
    root = tmp_path_factory.mktemp("synthemo")
    options = SynthOptions(engines=("espeak-ng", "flite"), emotions=FOUR_CLASS, per_class=8, seed=0)
    return generate(options, root, workers=2).manifest
