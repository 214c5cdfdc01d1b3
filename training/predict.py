"""Run a model over whole utterances, the way the runtime will: torch or ONNX."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from streamser.audio.formats import int16_to_float
from streamser.constants import SAMPLE_RATE_HZ
from streamser.model import fit_length
from training.model.msac_sernet import MSACSERNet


def predict(
    model: MSACSERNet, audio: Sequence[np.ndarray], max_seconds: float
) -> tuple[np.ndarray, np.ndarray]:
    """(logits [n, classes], embeddings [n, dim]) for int16 utterances, one at a time.

    One at a time because per-utterance normalisation makes padding change the
    result; utterances are centre-cropped to `max_seconds` and tiled up to the
    model's minimum length, as the runtime does.
    """
    model.eval()
    limit = int(max_seconds * SAMPLE_RATE_HZ)
    logits, embeddings = [], []
    with torch.no_grad():
        for samples in audio:
            waveform = fit_length(int16_to_float(samples), model.min_samples, limit)
            output = model(torch.from_numpy(np.ascontiguousarray(waveform))[None])
            logits.append(output.logits[0].numpy())
            embeddings.append(output.embedding[0].numpy())
    return np.stack(logits), np.stack(embeddings)


class EmotionPredictor:
    """Logits and embeddings from a checkpoint or an exported ONNX model, one interface."""

    def __init__(self, path: Path, max_seconds: float = 30.0) -> None:
        self.path = Path(path)
        self.max_seconds = max_seconds
        if self.path.suffix == ".onnx":
            import onnxruntime

            from streamser.metadata import METADATA_KEY, ModelMetadata

            # One thread, as the runtime runs it: thread count changes float summation order.
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            self._session = onnxruntime.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
            props = self._session.get_modelmeta().custom_metadata_map
            metadata = ModelMetadata.from_json(props.get(METADATA_KEY, "null"), str(self.path))
            self.labels = metadata.labels
            self._min_samples = round(metadata.min_seconds * metadata.sample_rate)
            self._model = None
        else:
            from training.checkpoint import load_checkpoint

            self._model = load_checkpoint(self.path).build_model()
            self.labels = self._model.config.classes

    def predict(self, audio: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        if self._model is not None:
            return predict(self._model, audio, self.max_seconds)
        limit = int(self.max_seconds * SAMPLE_RATE_HZ)
        logits, embeddings = [], []
        for samples in audio:
            waveform = fit_length(int16_to_float(samples), self._min_samples, limit)
            out = self._session.run(None, {"waveform": np.ascontiguousarray(waveform)[None]})
            logits.append(out[0][0])
            embeddings.append(out[1][0])
        return np.stack(logits), np.stack(embeddings)
