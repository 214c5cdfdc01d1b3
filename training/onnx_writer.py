"""Write a network and its metadata to one self-describing ONNX file.

The graph holds the frontend, so the runtime feeds raw waveform; the metadata
holds labels, limits and the OOD calibration. Export is checked against torch
before the file is written to its final name. Any network with `min_samples` and a
`config` holding `classes`, `frontend` and `embedding_dim` is written here: MSAC-SERNet
(`training.export`) and the adaptation network (`training.adapt.checkpoint`).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import torch

from streamser.metadata import (
    METADATA_KEY,
    ModelMetadata,
    OodCalibration,
    SpeakerNormalisationInfo,
)
from streamser.model import FEATURES_OUTPUT_NAME, SPEAKER_INPUT_NAMES
from training.model.msac_sernet import ExportWrapper, MSACSERNet, SpeakerExportWrapper

log = logging.getLogger(__name__)

OPSET = 18
INPUT_NAME = "waveform"
OUTPUT_NAMES = ("logits", "embedding")
MAX_EXPORT_SECONDS = 600
PARITY_TOLERANCE = 1e-4


def export_onnx(model: MSACSERNet, metadata: ModelMetadata, path: Path) -> Path:
    """Writes `path` atomically after a parity check; returns it.

    Raises:
        RuntimeError: onnxruntime and torch disagree by more than PARITY_TOLERANCE.
    """
    model = model.eval()
    rate = metadata.sample_rate
    # Batch 2 in the example: torch.export specialises dimensions of size 1.
    example: tuple[torch.Tensor, ...] = (torch.randn(2, rate) * 0.1,)
    batch = torch.export.Dim("batch", min=1, max=1024)
    samples = torch.export.Dim("samples", min=model.min_samples, max=rate * MAX_EXPORT_SECONDS)
    dynamic_shapes: tuple[dict, ...] = ({0: batch, 1: samples},)
    input_names, output_names = [INPUT_NAME], list(OUTPUT_NAMES)
    wrapper: torch.nn.Module = ExportWrapper(model)
    speaker_normalised = metadata.speaker_normalisation is not None
    if speaker_normalised:
        wrapper = SpeakerExportWrapper(model)
        example += speaker_context(2, model.config.pooled_dim, seed=1)
        dynamic_shapes += ({0: batch}, {0: batch}, {0: batch})
        input_names += SPEAKER_INPUT_NAMES
        output_names.append(FEATURES_OUTPUT_NAME)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            wrapper.eval(),
            example,
            input_names=input_names,
            output_names=output_names,
            opset_version=OPSET,
            dynamo=True,
            dynamic_shapes=dynamic_shapes,
            verbose=False,
        )
    return write_model(
        program.model_proto,
        metadata,
        path,
        lambda written: parity_error(model, written, rate, speaker_normalised),
    )


def write_model(
    proto: onnx.ModelProto,
    metadata: ModelMetadata,
    path: Path,
    parity: Callable[[Path], float],
    tolerance: float = PARITY_TOLERANCE,
) -> Path:
    """Adds the metadata and writes `path` atomically once `parity(written file)`, the
    largest |logit| difference from the reference the caller trusts, is within
    `tolerance`; returns `path`.

    Raises:
        RuntimeError: The parity check failed (nothing is written at `path`).
    """
    entry = proto.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = metadata.to_json()
    proto.producer_name = "streamser"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        onnx.save_model(proto, tmp_name)
        worst = parity(Path(tmp_name))
        if not worst <= tolerance:
            raise RuntimeError(f"export parity check failed: max |logit difference| {worst:.2e}")
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; a model is for anyone to read
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    log.info("exported %s (parity %.1e)", path, worst)
    return path


def speaker_context(batch: int, dim: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Plausible speaker statistics (a few utterances' worth) for tracing and parity."""
    generator = torch.Generator().manual_seed(seed)
    count = torch.randint(0, 8, (batch,), generator=generator).float()
    features = torch.randn(batch, dim, generator=generator)
    return features * count[:, None], (features.square() + 1) * count[:, None], count


def parity_error(
    model: MSACSERNet, onnx_path: Path, rate: int, speaker_normalised: bool, seed: int = 0
) -> float:
    """Largest |logit| difference between torch and onnxruntime over several lengths.

    Includes the shortest input the model accepts, a batch of two and, for a
    speaker-normalised model, speaker statistics.
    """
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    generator = np.random.default_rng(seed)
    worst = 0.0
    for batch, length in ((1, model.min_samples), (1, rate // 2), (2, 3 * rate), (1, 8 * rate)):
        waveform = (0.1 * generator.standard_normal((batch, length))).astype(np.float32)
        inputs = {INPUT_NAME: waveform}
        context = None
        if speaker_normalised:
            context = speaker_context(batch, model.config.pooled_dim, seed)
            inputs |= {n: c.numpy() for n, c in zip(SPEAKER_INPUT_NAMES, context, strict=True)}
        ours = session.run(["logits"], inputs)[0]
        with torch.no_grad():
            extra = {"context": context} if context is not None else {}
            reference = model(torch.from_numpy(waveform), **extra).logits.numpy()
        worst = max(worst, float(np.abs(ours - reference).max()))
    return worst


def describe_model(
    model: torch.nn.Module,
    name: str,
    calibration: OodCalibration,
    max_seconds: float,
    training: dict,
) -> ModelMetadata:
    """The metadata every exported model carries; `training` adds what its run knows.

    `model` is MSAC-SERNet or the adaptation network: anything with `min_samples` and
    a `config` holding `classes`, `frontend` and `embedding_dim`.

    The date and code version are stamped here, so every export path records them.
    """
    from datetime import date

    import streamser
    from streamser.constants import SAMPLE_RATE_HZ

    speaker = None
    if getattr(model.config, "speaker_normalise", False):
        speaker = SpeakerNormalisationInfo(
            feature_dim=model.config.pooled_dim,
            prior_utterances=model.config.speaker_prior_utterances,
        )
    return ModelMetadata(
        name=name,
        labels=model.config.classes,
        sample_rate=SAMPLE_RATE_HZ,
        min_seconds=model.min_samples / SAMPLE_RATE_HZ,
        max_seconds=max_seconds,
        frontend=model.config.frontend.to_metadata(),
        ood=calibration,
        training={
            **training,
            "date": date.today().isoformat(),
            "code_version": streamser.__version__,
        },
        embedding_dim=model.config.embedding_dim,
        speaker_normalisation=speaker,
    )
