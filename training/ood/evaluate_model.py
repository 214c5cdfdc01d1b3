"""A model's OOD evaluation: its outputs on the ID positives and on each OOD set, then
`training.ood.evaluation.evaluate_ood`.

An exported model runs through the runtime's own wrapper, so the numbers are those
the runtime gate computes; a checkpoint runs through `training.predict` with the
calibration `training.export` would give it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streamser.audio.formats import int16_to_float
from streamser.metadata import OodCalibration
from streamser.voicing import voiced_share
from training.ood.evaluation import OodEvaluation, Outputs, evaluate_ood
from training.ood.sets import OodSet, OodSetOptions, build_set

if TYPE_CHECKING:
    from training.corpora import Utterance


class RuntimePredictor:
    """An exported model run by the runtime's own wrapper (`streamser.model.EmotionModel`):
    the session settings, padding and cropping the gate sees in service.

    `training.predict.EmotionPredictor` runs ONNX with onnxruntime's default thread
    count and tiles short utterances; float32 sums in another order move an
    embedding by ~1e-7, which the Mahalanobis precision matrix magnifies to ~1e-4
    in the score. Scoring through the runtime wrapper makes the evaluation the
    numbers the runtime gate computes, not approximately those.
    """

    def __init__(self, path: Path) -> None:
        from streamser.model import EmotionModel

        self._model = EmotionModel.load(path)
        self.labels = self._model.labels
        self.calibration = self._model.metadata.ood

    def predict(
        self, audio: Sequence[np.ndarray], speakers: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(logits, the vectors the gate reads: `OodCalibration.vector`). With
        `speakers`, each speaker is a stream of its own, heard in the given order: a
        speaker-normalised model's statistics grow as they do in service."""
        from streamser.audio.formats import int16_to_float
        from streamser.speaker import SpeakerStatistics

        streams: dict[str, SpeakerStatistics] = {}
        outputs = []
        for i, samples in enumerate(audio):
            speaker = None
            if speakers is not None:
                speaker = streams.setdefault(speakers[i], SpeakerStatistics())
            outputs.append(self._model.infer(int16_to_float(samples), speaker))
        vectors = [o.vector(self.calibration.vector) for o in outputs]
        return np.stack([o.logits for o in outputs]), np.stack(vectors)


def outputs_for(predictor, audio: Sequence[np.ndarray], emotions: Sequence[str | None]) -> Outputs:
    """A predictor's (`RuntimePredictor` or `training.predict.EmotionPredictor`) outputs
    with class indices, and how voiced each utterance is (the gate's other test)."""
    audio = list(audio)
    logits, embeddings = predictor.predict(audio)
    labels = predictor.labels
    true = np.array([labels.index(e) if e in labels else -1 for e in emotions])
    voiced = np.array([voiced_share(int16_to_float(a)) for a in audio])
    return Outputs(logits, embeddings, true, voiced=voiced)


def onnx_calibration(path: Path) -> OodCalibration:
    """The calibration an exported model carries, read the way the runtime reads it."""
    import onnx

    from streamser.metadata import METADATA_KEY, ModelMetadata

    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return ModelMetadata.from_json(props.get(METADATA_KEY, "null"), str(path)).ood


def checkpoint_calibration(predictor, checkpoint: Path) -> tuple[OodCalibration, np.ndarray]:
    """What `training.export` would calibrate for a checkpoint: embedding parameters from
    its training split, thresholds from its validation split. Also returns the
    validation logits (for ODIN's threshold)."""
    from training.data import AudioCache
    from training.ood.calibration import calibrate, embedding_params
    from training.predict import speakers_of

    data, config = run_partition(checkpoint)
    logits, embeddings = predictor.predict(
        AudioCache(data.validation).audio, speakers_of(data.validation)
    )
    _, train_embeddings = predictor.predict(AudioCache(data.train).audio, speakers_of(data.train))
    labels = np.array([predictor.labels.index(u.emotion) for u in data.train])
    params = embedding_params(train_embeddings, labels, len(predictor.labels), config.seed)
    return calibrate(logits, embeddings, params=params), logits


def run_partition(checkpoint: Path):
    """(Partition, TrainConfig) of the run that wrote `checkpoint`."""
    from training.checkpoint import load_checkpoint
    from training.config import TrainConfig
    from training.experiment import partition

    config = TrainConfig.from_dict(load_checkpoint(checkpoint).train_config)
    return partition(config), config


def build_sets(
    names: Sequence[str], cache: Path, options: OodSetOptions, outputs
) -> list[tuple[OodSet, Outputs]]:
    """Each named set (`training.ood.sets.build_set`) with `outputs(audio, emotions)` on it."""
    sets = []
    for name in names:
        ood_set = build_set(name, cache, options)
        sets.append((ood_set, outputs(ood_set.audio, ood_set.emotions)))
    return sets


def evaluate_predictor(
    name: str,
    predictor,
    calibration: OodCalibration,
    positives: Sequence[Utterance],
    set_names: Sequence[str],
    cache: Path,
    title: str,
    options: OodSetOptions | None = None,
    validation_logits: np.ndarray | None = None,
    perturbed=None,
    validation_extra: dict[str, np.ndarray] | None = None,
) -> OodEvaluation:
    """Outputs of `predictor` on the positives and on each named set, then `evaluate_ood`.

    Args:
        predictor: `RuntimePredictor` or `training.predict.EmotionPredictor`.
        positives: Held-out ID utterances; those of classes the model lacks are left out.
        options: Set sizes and seed; the known emotions are the predictor's labels.
        perturbed: Optional audio -> ODIN-with-perturbation scores (`training.ood.odin`).
    """
    from dataclasses import replace

    from training.data import AudioCache

    def outputs(audio, emotions):
        result = outputs_for(predictor, audio, emotions)
        if perturbed is not None:
            result.extra["odin_perturbed"] = perturbed(audio)
        return result

    kept = [u for u in positives if u.emotion in predictor.labels]
    id_outputs = outputs(AudioCache(kept).audio, [u.emotion for u in kept])
    options = replace(options or OodSetOptions(), known_emotions=predictor.labels)
    sets = build_sets(set_names, cache, options, outputs)
    return evaluate_ood(
        name, calibration, id_outputs, title, sets, validation_logits, validation_extra
    )


def evaluate_exported(
    model: Path,
    positives: Sequence[Utterance],
    validation: Sequence[Utterance] | None,
    set_names: Sequence[str],
    cache: Path,
    title: str,
    options: OodSetOptions | None = None,
) -> OodEvaluation:
    """An exported model's OOD evaluation, scored as the runtime scores.

    Args:
        positives: Held-out ID utterances (the run's test split).
        validation: The split the export calibrated on (gives ODIN its threshold);
            None: ODIN gets metrics but no threshold.
    """
    from training.data import AudioCache
    from training.predict import speakers_of

    predictor = RuntimePredictor(model)
    validation_logits = None
    if validation is not None:
        validation_logits = predictor.predict(
            AudioCache(list(validation)).audio, speakers_of(validation)
        )[0]
    return evaluate_predictor(
        model.name, predictor, predictor.calibration, positives, set_names, cache, title,
        options, validation_logits,
    )  # fmt: skip
