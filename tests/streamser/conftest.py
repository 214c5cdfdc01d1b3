"""Fixtures for the runtime tests: untrained models that honour the model-file contract.

The bundled model's labels mean something, but most tests exercise mechanisms
(segmentation, buffering, the gate, events) that must not depend on what a model
has learnt. A tiny fixed network built with `onnx` alone (`support.tiny_model`)
serves them, so the runtime suite runs without torch.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def untrained_model(tmp_path_factory) -> Path:
    """A tiny untrained 4-class model with a calibrated gate (energy, threshold 0.0)."""
    return build_tiny_model(tmp_path_factory.mktemp("model") / "untrained.onnx", name="untrained")


@pytest.fixture(scope="session")
def speaker_normalised_model(tmp_path_factory) -> Path:
    """The same tiny model, standardising its features with the stream's own statistics."""
    return build_tiny_model(
        tmp_path_factory.mktemp("model") / "speaker.onnx",
        name="untrained-speaker",
        speaker_normalised=True,
    )


def _rewrite_metadata(source: Path, target: Path, value: str | None) -> Path:
    """A copy of `source` whose streamser metadata is `value` (None: removed)."""
    import onnx

    proto = onnx.load(str(source))
    kept = [p for p in proto.metadata_props if p.key != "streamser"]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    if value is not None:
        entry = proto.metadata_props.add()
        entry.key, entry.value = "streamser", value
    onnx.save(proto, str(target))
    return target


@pytest.fixture(scope="session")
def model_without_metadata(untrained_model, tmp_path_factory) -> Path:
    return _rewrite_metadata(
        untrained_model, tmp_path_factory.mktemp("bad") / "bare.onnx", value=None
    )


@pytest.fixture(scope="session")
def rewrite_metadata():
    """`rewrite_metadata(source, target, value)`: a copy with other (or no) metadata."""
    return _rewrite_metadata


@pytest.fixture(scope="session")
def loaded_model(untrained_model):
    """The untrained model loaded once for in-process tests."""
    from streamser.model import EmotionModel

    return EmotionModel.load(untrained_model)


@pytest.fixture(scope="session")
def bundled_model():
    """The trained model that ships in `models/`, for tests whose labels must mean something."""
    from streamser.model import EmotionModel
    from streamser.models import default_model_path

    return EmotionModel.load(default_model_path())
