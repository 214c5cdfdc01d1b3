"""The accurate tier as a cross-validation row: a head trained per fold on cached vectors.

`training.crossval` runs it over the same folds, channels and scores as the other
rows. The encoder's vectors of every utterance are computed once per channel and
kept beside the fold results (`work/embeddings`); each fold then trains only the
head (seconds), on its training speakers, with the epoch chosen on its
validation speaker. The gate per fold is the CNN rows': the Mahalanobis score of
the embedding, its threshold accepting 95 % of the validation speaker's
utterances.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from streamser.constants import SAMPLE_RATE_HZ
from streamser.ood import ood_score
from training.corpora import Utterance
from training.data import LabelSpace, attribute_value
from training.encoder.head import ATTRIBUTES, HeadData, HeadOptions, head_outputs, train_head
from training.folds import CHANNELS, CrossValidationPlan, Fold, FoldResult, through_telephone
from training.predict import OTHER_READINGS

log = logging.getLogger(__name__)

CACHED_CHANNELS = ("wideband", "telephone", "margins")
"""What the vector cache holds per utterance: as recorded, through a telephone line, and
with the margins the runtime's segmenter leaves around an utterance (`with_margins`)."""
MARGIN_SECONDS = 0.3
"""The segmenter's default pre-roll and hangover (`SegmenterOptions`)."""
MARGIN_LEVELS_DB = (-70.0, -45.0)
"""Background noise in those margins, dBFS RMS: a quiet room to a noisy one."""


def with_margins(clip: np.ndarray, key: str) -> np.ndarray:
    """An int16 utterance as the runtime cuts it from a live input: 0.3 s of background
    noise before and after, at a level drawn (seeded by `key`) from MARGIN_LEVELS_DB.
    Corpus clips are cut tight; without such copies a head learns that an utterance
    has no margins and misreads the runtime's spans."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    rms = 32768.0 * 10 ** (rng.uniform(*MARGIN_LEVELS_DB) / 20)
    margin = int(MARGIN_SECONDS * SAMPLE_RATE_HZ)
    padded = np.concatenate(
        [rng.normal(0, rms, margin), clip.astype(np.float64), rng.normal(0, rms, margin)]
    )
    return np.clip(np.round(padded), -32768, 32767).astype(np.int16)


def training_channels(options: HeadOptions) -> list[str]:
    """The copies a head trains on: wideband, and the augmented ones its options ask for."""
    return ["wideband"] + ["telephone"] * options.telephone + ["margins"] * options.margins


@dataclass(frozen=True)
class EncoderRow:
    """The frozen encoder and a head trained per fold (`HeadOptions`)."""

    name: str
    options: HeadOptions = field(default_factory=HeadOptions)


def select(vectors: dict[str, np.ndarray], outputs: Sequence[str]) -> np.ndarray:
    """The head's input: the chosen encoder outputs side by side."""
    return np.concatenate([vectors[name] for name in outputs], axis=1)


def encoder_vectors_key(pad: str) -> str:
    """What names the vectors `utterance_embeddings` gives (`vectors_key`)."""
    from training.encoder.embeddings import EncoderSetting, vectors_key
    from training.encoder.fetch import encoder_path

    return vectors_key(encoder_path(), EncoderSetting(pad=pad))


def utterance_embeddings(
    utterances: Sequence[Utterance], pad: str, cache: Path
) -> dict[str, dict[str, np.ndarray]]:
    """Per channel, every encoder output of every utterance (cached)."""
    from training.data import AudioCache
    from training.encoder.embeddings import EncoderSetting, cached_embeddings
    from training.encoder.fetch import encoder_path

    encoder = encoder_path()
    paths = [str(u.path) for u in utterances]

    def wideband(indices: list[int]) -> list[np.ndarray]:
        return AudioCache([utterances[i] for i in indices]).audio

    def telephone(indices: list[int]) -> list[np.ndarray]:
        return through_telephone(wideband(indices))

    def margins(indices: list[int]) -> list[np.ndarray]:
        return [with_margins(a, paths[i]) for i, a in zip(indices, wideband(indices), strict=True)]

    setting = EncoderSetting(pad=pad)
    audio = {"wideband": wideband, "telephone": telephone, "margins": margins}
    return {
        channel: cached_embeddings(encoder, paths, audio[channel], channel, cache, setting)
        for channel in CACHED_CHANNELS
    }


def head_data(
    utterances: Sequence[Utterance],
    x: np.ndarray,
    classes: Sequence[str],
    labels: LabelSpace,
    stream_suffix: str = "",
) -> HeadData:
    return HeadData(
        x=x,
        emotion=np.array([classes.index(u.emotion) for u in utterances]),
        speakers=[u.speaker + stream_suffix for u in utterances],
        attributes={
            name: np.array(
                [
                    values.index(v) if (v := attribute_value(u, name)) in values else -1
                    for u in utterances
                ]
            )
            for name, values in labels.attributes.items()
        },
    )


def concatenate(parts: Sequence[HeadData]) -> HeadData:
    return HeadData(
        x=np.concatenate([p.x for p in parts]),
        emotion=np.concatenate([p.emotion for p in parts]),
        speakers=[s for p in parts for s in p.speakers],
        attributes={
            name: np.concatenate([p.attributes[name] for p in parts])
            for name in parts[0].attributes
        },
    )


def channel_data(
    utterances: Sequence[Utterance],
    rows: np.ndarray,
    vectors: dict[str, dict[str, np.ndarray]],
    classes: Sequence[str],
    labels: LabelSpace,
    options: HeadOptions,
    channels: Sequence[str],
) -> HeadData:
    """The rows' vectors in each channel; every copy but the wideband one is a stream of
    its own (a stream hears one channel, so its statistics never mix them)."""
    chosen = [utterances[i] for i in rows]
    return concatenate(
        [
            head_data(
                chosen,
                select(vectors[channel], options.outputs)[rows],
                classes,
                labels,
                "" if channel == "wideband" else f"|{channel}",
            )
            for channel in channels
        ]
    )


def run_encoder_fold(
    plan: CrossValidationPlan,
    row: EncoderRow,
    fold: Fold,
    utterances: list[Utterance],
    tested_count: int,
    vectors: dict[str, dict[str, np.ndarray]],
) -> FoldResult:
    """`utterances` are the tested ones, then the extra ones; `vectors` per channel
    hold every encoder output for each."""
    from training.ood.calibration import calibrate, embedding_params

    started = time.perf_counter()
    options = row.options
    speakers = np.array([u.speaker for u in utterances])
    tested = np.arange(len(utterances)) < tested_count
    test_rows = np.flatnonzero(tested & np.isin(speakers, fold.test_speakers))
    validation_rows = np.flatnonzero(tested & np.isin(speakers, fold.validation_speakers))
    held_out = np.isin(speakers, fold.test_speakers + fold.validation_speakers)
    train_rows = np.flatnonzero(~held_out)
    classes = plan.classes
    labels = LabelSpace.build([utterances[i] for i in train_rows], classes, ATTRIBUTES)

    def data(rows: np.ndarray, channels: Sequence[str]) -> HeadData:
        return channel_data(utterances, rows, vectors, classes, labels, options, channels)

    train = data(train_rows, training_channels(options))
    validation = data(validation_rows, CACHED_CHANNELS)
    head, _ = train_head(train, validation, classes, options)
    _, train_embeddings = head_outputs(head, train.x, train.speakers)
    params = embedding_params(train_embeddings, train.emotion, len(classes), options.seed)
    calibration = calibrate(
        *head_outputs(head, validation.x, validation.speakers), method="mahalanobis", params=params
    )
    result = FoldResult(
        fold=fold.index,
        true=[classes.index(utterances[i].emotion) for i in test_rows],
        predicted={},
        threshold=calibration.threshold,
    )
    test_speakers = [utterances[i].speaker for i in test_rows]
    for channel in CHANNELS:
        x = select(vectors[channel], options.outputs)[test_rows]
        logits, embeddings = head_outputs(head, x, test_speakers)
        result.predicted[channel] = logits.argmax(axis=1).tolist()
        result.logits[channel] = logits.tolist()
        result.scores[channel] = ood_score("mahalanobis", logits, embeddings, calibration).tolist()
        for reading in OTHER_READINGS if options.speaker_normalise else ():
            logits, _ = head_outputs(head, x, test_speakers, reading)
            result.readings.setdefault(reading, {})[channel] = logits.argmax(axis=1).tolist()
    result.seconds = time.perf_counter() - started
    return result
