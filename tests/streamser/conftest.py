"""Fixtures for the runtime tests: an untrained model exported the way training exports one.

The bundled model is a build product that does not exist yet; an untrained
MSAC-SERNet with valid metadata exercises every mechanism (segmentation,
buffering, the gate, events) without depending on what a model has learnt.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def untrained_model(tmp_path_factory) -> Path:
    """An exported untrained 4-class MSAC-SERNet (about 3 MB, a few seconds to build)."""
    import torch

    from streamser.metadata import ModelMetadata, OodCalibration
    from training.export import export_onnx
    from training.model.msac_sernet import ModelConfig, MSACSERNet

    torch.manual_seed(0)
    model = MSACSERNet(ModelConfig(classes=("neutral", "happy", "angry", "sad")))
    metadata = ModelMetadata(
        name="untrained",
        labels=model.config.classes,
        sample_rate=16000,
        min_seconds=model.min_samples / 16000,
        max_seconds=30.0,
        frontend=model.config.frontend.to_metadata(),
        ood=OodCalibration(method="energy", threshold=0.0, tpr=0.95),
        training={},
        embedding_dim=128,
    )
    return export_onnx(model, metadata, tmp_path_factory.mktemp("model") / "untrained.onnx")


@pytest.fixture(scope="session")
def speaker_normalised_model(tmp_path_factory) -> Path:
    """An exported untrained 4-class MSAC-SERNet with speaker normalisation."""
    import torch

    from streamser.metadata import OodCalibration
    from training.export import describe_model, export_onnx
    from training.model.msac_sernet import ModelConfig, MSACSERNet

    torch.manual_seed(0)
    model = MSACSERNet(
        ModelConfig(classes=("neutral", "happy", "angry", "sad"), speaker_normalise=True)
    ).eval()
    calibration = OodCalibration(method="energy", threshold=0.0, tpr=0.95)
    metadata = describe_model(model, "untrained-speaker", calibration, 30.0, {})
    return export_onnx(model, metadata, tmp_path_factory.mktemp("model") / "speaker.onnx")


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
