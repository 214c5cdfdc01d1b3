"""Utterances in memory, label encodings, and batches for training and evaluation.

Corpora used here are small (thousands of short utterances), so audio is
decoded once through the runtime's own audio layer (the model hears exactly
what streamser will feed it) and kept as int16. Random crops, augmentation and
padding happen per batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from streamser.audio import load_mono
from streamser.audio.formats import int16_to_float
from streamser.constants import SAMPLE_RATE_HZ
from training.augment import Augmenter
from training.corpora import Utterance

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelSpace:
    """Integer codes for emotions and for each controlled attribute.

    Attributes:
        emotions: Emotion labels in logit order.
        attributes: Attribute name -> its values in code order.
    """

    emotions: tuple[str, ...]
    attributes: dict[str, tuple[str, ...]]

    @classmethod
    def build(
        cls, utterances: Sequence[Utterance], emotions: Sequence[str], attributes: Sequence[str]
    ) -> LabelSpace:
        values = {
            name: tuple(sorted({attribute_value(u, name) for u in utterances}))
            for name in attributes
        }
        return cls(emotions=tuple(emotions), attributes=values)

    def encode(self, utterance: Utterance) -> dict[str, int]:
        codes = {"emotion": self.emotions.index(utterance.emotion)}
        for name, values in self.attributes.items():
            value = attribute_value(utterance, name)
            codes[name] = values.index(value) if value in values else -1
        return codes


def attribute_value(utterance: Utterance, name: str) -> str:
    value = getattr(utterance, name)
    return "unknown" if value is None else str(value)


class AudioCache:
    """Decoded canonical audio of a set of utterances, loaded in parallel once."""

    def __init__(self, utterances: Sequence[Utterance], workers: int = 4) -> None:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            self.audio = list(pool.map(lambda u: load_mono(u.path), utterances))
        seconds = sum(len(a) for a in self.audio) / SAMPLE_RATE_HZ
        log.info("loaded %d utterances, %.1f min of audio", len(self.audio), seconds / 60)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.audio[index]


class TrainingBatches:
    """Shuffled batches of random crops, one epoch per iteration.

    Each batch is cropped to the shortest of `crop_samples` and its longest member;
    shorter members are tiled (repeating speech keeps the per-utterance feature
    statistics honest, where zero padding would skew them).
    """

    def __init__(
        self,
        cache: AudioCache,
        codes: list[dict[str, int]],
        batch_size: int,
        crop_samples: int,
        augmenter: Augmenter | None,
        seed: int,
        shard: tuple[int, int] = (0, 1),
        speaker_groups: tuple[list[str], int] | None = None,
    ) -> None:
        self.cache = cache
        self.codes = codes
        self.batch_size = batch_size
        self.crop_samples = crop_samples
        self.augmenter = augmenter
        self.seed = seed
        self.rank, self.world = shard
        self.speaker_groups = speaker_groups
        self.epoch = 0

    def __len__(self) -> int:
        per_rank = len(self.codes) // self.world
        return max(per_rank // self.batch_size, 1)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        order = (
            rng.permutation(len(self.codes))
            if self.speaker_groups is None
            else speaker_grouped_order(*self.speaker_groups, rng)
        )
        order = order[self.rank :: self.world]  # the same permutation on every rank
        self.epoch += 1
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield self._batch(order[start : start + self.batch_size], rng)

    def _batch(self, indices: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        clips = []
        for index in indices:
            audio = int16_to_float(self.cache[index])
            if self.augmenter is not None:
                audio = self.augmenter(audio, rng)
            clips.append(audio)
        length = min(self.crop_samples, max(len(c) for c in clips))
        waveform = np.stack([random_crop(tile(c, length), length, rng) for c in clips])
        batch = {"waveform": torch.from_numpy(waveform)}
        for key in self.codes[0]:
            batch[key] = torch.tensor([self.codes[i][key] for i in indices])
        return batch


def speaker_grouped_order(
    speakers: list[str], group_size: int, rng: np.random.Generator
) -> np.ndarray:
    """A permutation made of runs of `group_size` utterances of one speaker (fewer
    for a speaker's remainder), the runs in random order."""
    groups = []
    for speaker in sorted(set(speakers)):
        members = rng.permutation([i for i, s in enumerate(speakers) if s == speaker])
        groups += [members[i : i + group_size] for i in range(0, len(members), group_size)]
    return np.concatenate([groups[i] for i in rng.permutation(len(groups))])


def tile(audio: np.ndarray, length: int) -> np.ndarray:
    if len(audio) >= length:
        return audio
    return np.tile(audio, -(-length // max(len(audio), 1)))[: max(length, 0)]


def random_crop(audio: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    start = int(rng.integers(0, len(audio) - length + 1))
    return audio[start : start + length]
