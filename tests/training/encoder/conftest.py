"""Fixtures for the accurate tier: the fetched encoder, and a tiny stand-in for it."""

from __future__ import annotations

import importlib.util

import pytest
from support.tiny_encoder import write_tiny_encoder

from streamser.errors import StreamserError
from training.encoder.fetch import EncoderFiles, cached_encoder


@pytest.fixture(scope="session")
def fetched_encoder() -> EncoderFiles:
    """The pinned encoder; `bin/setup test` fetches it (a missing one fails, never skips)."""
    try:
        return cached_encoder()
    except StreamserError as error:
        pytest.fail(f"{error} (bin/setup test fetches it)")


@pytest.fixture(scope="session")
def whisper_features(fetched_encoder):
    """The wheel's own numpy feature code, the reference of the ONNX front end."""
    spec = importlib.util.spec_from_file_location("whisper_features", fetched_encoder.features)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory):
    return write_tiny_encoder(tmp_path_factory.mktemp("encoder") / "tiny-encoder.onnx")
