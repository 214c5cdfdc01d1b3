"""Run a model over whole utterances, the way the runtime will: torch or ONNX.

A speaker-normalised model needs each utterance's speaker statistics, and how much
of its speaker a stream has heard changes the answer. Three readings (`READINGS`):

- `offline`: every utterance normalised with its speaker's *other* utterances in
  the set; the runtime approaches it once a stream has heard a speaker for a while.
- `stream`: each speaker's utterances in a seeded random order, as one stream of the
  runtime hears them: each normalised with the earlier ones alone, gathered by the
  runtime's own `streamser.speaker.SpeakerStatistics`.
- `fresh`: every utterance a stream of its own (one file per run): the population
  prior alone, the hardest case.

Without speakers, every reading is `fresh`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from streamser.audio.formats import int16_to_float
from streamser.constants import SAMPLE_RATE_HZ
from streamser.model import FEATURES_OUTPUT_NAME, SPEAKER_INPUT_NAMES, exact_int8, fit_length
from streamser.speaker import SpeakerStatistics
from training.corpora import Utterance
from training.model.msac_sernet import MSACSERNet


def speakers_of(utterances: Sequence[Utterance]) -> list[str]:
    return [u.speaker for u in utterances]


READINGS = ("offline", "stream", "fresh")
OTHER_READINGS = READINGS[1:]
"""What cross-validation reports beside the offline reading."""
STREAM_ORDER_SEED = 0
"""Seeds the order in which the `stream` reading hears each speaker's utterances."""


def speaker_contexts(
    features: np.ndarray, speakers: Sequence[str] | None, reading: str = "offline"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sum, sum of squares, count) of the statistics each utterance is normalised
    with in `reading` (see the module's docstring)."""
    if reading not in READINGS:
        raise ValueError(f"reading {reading!r}: expected one of {', '.join(READINGS)}")
    total = np.zeros_like(features, dtype=np.float64)
    squares = np.zeros_like(total)
    count = np.zeros(len(features))
    if speakers is None or reading == "fresh":
        return total, squares, count
    speakers = np.asarray(speakers)
    rng = np.random.default_rng(STREAM_ORDER_SEED)
    for speaker in np.unique(speakers):
        members = np.flatnonzero(speakers == speaker)
        group = features[members].astype(np.float64)
        if reading == "offline":
            total[members] = group.sum(axis=0) - group
            squares[members] = (group**2).sum(axis=0) - group**2
            count[members] = len(members) - 1
            continue
        statistics = SpeakerStatistics()
        for i in rng.permutation(len(members)):
            known = statistics.inputs(features.shape[1])
            total[members[i]] = known["speaker_sum"][0]
            squares[members[i]] = known["speaker_sum_squares"][0]
            count[members[i]] = known["speaker_count"][0]
            statistics.add(group[i])
    return total, squares, count


def pooled_features(
    model: MSACSERNet, audio: Sequence[np.ndarray], max_seconds: float
) -> np.ndarray:
    """[n, pooled_dim] pooled features before any speaker normalisation (what a
    speaker-normalised model's `features` output returns)."""
    model.eval()
    limit = int(max_seconds * SAMPLE_RATE_HZ)
    with torch.no_grad():
        return torch.cat(
            [
                model.pooled(
                    torch.from_numpy(fit_length(int16_to_float(s), model.min_samples, limit))[None]
                )
                for s in audio
            ]
        ).numpy()


def predict(
    model: MSACSERNet,
    audio: Sequence[np.ndarray],
    max_seconds: float,
    speakers: Sequence[str] | None = None,
    reading: str = "offline",
) -> tuple[np.ndarray, np.ndarray]:
    """(logits [n, classes], embeddings [n, dim]) for int16 utterances, one at a time.

    One at a time because per-utterance normalisation makes padding change the
    result; utterances are centre-cropped to `max_seconds` and tiled up to the
    model's minimum length, as the runtime does.
    """
    pooled = torch.from_numpy(pooled_features(model, audio, max_seconds))
    with torch.no_grad():
        context = None
        if model.config.speaker_normalise:
            arrays = speaker_contexts(pooled.numpy(), speakers, reading)
            context = tuple(torch.from_numpy(a).float() for a in arrays)
        output = model.head(pooled, context=context)
    return output.logits.numpy(), output.embedding.numpy()


class EmotionPredictor:
    """Logits and embeddings from a checkpoint or an exported ONNX model, one interface."""

    def __init__(self, path: Path, max_seconds: float = 30.0) -> None:
        self.path = Path(path)
        self.max_seconds = max_seconds
        if self.path.suffix == ".onnx":
            import onnxruntime

            from streamser.metadata import METADATA_KEY, ModelMetadata

            # One thread, as the runtime runs it: thread count changes float summation order.
            options = exact_int8(onnxruntime.SessionOptions())
            options.intra_op_num_threads = 1
            self._session = onnxruntime.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
            props = self._session.get_modelmeta().custom_metadata_map
            metadata = ModelMetadata.from_json(props.get(METADATA_KEY, "null"), str(self.path))
            self.labels = metadata.labels
            self._speaker = metadata.speaker_normalisation
            self._gate_vector = metadata.ood.vector
            self._min_samples = round(metadata.min_seconds * metadata.sample_rate)
            self._model = None
        else:
            from training.checkpoint import load_checkpoint

            self._model = load_checkpoint(self.path).build_model()
            self.labels = self._model.config.classes

    @property
    def speaker_normalised(self) -> bool:
        if self._model is not None:
            return self._model.config.speaker_normalise
        return self._speaker is not None

    def predict(
        self,
        audio: Sequence[np.ndarray],
        speakers: Sequence[str] | None = None,
        reading: str = "offline",
    ) -> tuple[np.ndarray, np.ndarray]:
        """(logits, embeddings); for an ONNX model whose gate reads its pooled features
        (`OodCalibration.vector`), those features in place of the embeddings, so that
        OOD scores computed from the pair are the gate's."""
        if self._model is not None:
            return predict(self._model, audio, self.max_seconds, speakers, reading)
        limit = int(self.max_seconds * SAMPLE_RATE_HZ)
        waveforms = [
            np.ascontiguousarray(fit_length(int16_to_float(s), self._min_samples, limit))[None]
            for s in audio
        ]
        if self._speaker is None:
            outputs = [self._session.run(None, {"waveform": w}) for w in waveforms]
            return np.stack([o[0][0] for o in outputs]), np.stack([o[1][0] for o in outputs])
        # Two passes: the features of every utterance, then each one normalised with
        # the statistics `reading` gives it.
        dim = self._speaker.feature_dim
        empty = [np.zeros((1, dim), np.float32)] * 2 + [np.zeros(1, np.float32)]
        features = np.stack(
            [
                self._session.run(
                    [FEATURES_OUTPUT_NAME],
                    {"waveform": w, **dict(zip(SPEAKER_INPUT_NAMES, empty, strict=True))},
                )[0][0]
                for w in waveforms
            ]
        )
        total, squares, count = speaker_contexts(features, speakers, reading)
        embeddings = list(features) if self._gate_vector == "features" else []
        logits = []
        for i, waveform in enumerate(waveforms):
            context = (total[i][None], squares[i][None], count[i : i + 1])
            inputs = {
                name: value.astype(np.float32)
                for name, value in zip(SPEAKER_INPUT_NAMES, context, strict=True)
            }
            out = self._session.run(["logits", "embedding"], {"waveform": waveform, **inputs})
            logits.append(out[0][0])
            if self._gate_vector != "features":
                embeddings.append(out[1][0])
        return np.stack(logits), np.stack(embeddings)
