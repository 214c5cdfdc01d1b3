"""Corpora for adaptation: NAME=PATH specs, shared classes, and cached pooled log-mel maps.

The pooled maps (`DidanNet.maps`) have no parameters, so they are computed once
per utterance, on the whole utterance as the runtime would feed it, and every
run of an experiment (methods x seeds) trains on the cache: random crops of a
fixed number of frames for training, whole utterances for scoring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from streamser.audio.formats import int16_to_float
from streamser.constants import SAMPLE_RATE_HZ
from streamser.errors import StreamserError
from streamser.labels import EMOTIONS
from streamser.model import fit_length
from training.corpora import CORPORA, Utterance, load_corpus, load_manifest
from training.data import AudioCache

log = logging.getLogger(__name__)

MAX_SECONDS = 8.0
"""Utterances are centre-cropped to this before the frontend (SynthEmo and the
acted corpora are far shorter; it bounds memory for odd long files)."""


@dataclass(frozen=True)
class CorpusSpec:
    """A corpus on the command line: NAME=PATH.

    NAME is a corpus loader (emodb, enterface, casia, ...) reading the corpus
    folder PATH, or, when PATH is a CSV manifest or a folder holding
    manifest.csv, the value of the manifest's `corpus` column to keep (a
    SynthEmo manifest holds one corpus per engine: synthemo-espeak,
    synthemo-flite, synthemo-festival); NAME "manifest" keeps every row.
    """

    name: str
    path: Path

    @classmethod
    def parse(cls, text: str) -> CorpusSpec:
        name, sep, path = text.partition("=")
        if not sep or not name or not path:
            raise StreamserError(f"corpus {text!r}: expected NAME=PATH, e.g. emodb=data/emodb")
        return cls(name.strip(), Path(path))

    def __str__(self) -> str:
        return f"{self.name}={self.path}"

    def load(self) -> list[Utterance]:
        is_manifest = self.path.suffix.lower() == ".csv" or (self.path / "manifest.csv").is_file()
        name = self.name.lower()
        if name in CORPORA and name != "manifest":
            return load_corpus(name, self.path)
        if not is_manifest:
            raise StreamserError(
                f"{self}: {self.name!r} is not a corpus loader ({', '.join(CORPORA)}) "
                "and the path is not a manifest CSV"
            )
        rows = load_manifest(self.path)
        if name == "manifest":
            return rows
        kept = [u for u in rows if u.corpus == self.name]
        if not kept:
            names = sorted({u.corpus for u in rows})
            raise StreamserError(
                f"{self}: no rows of corpus {self.name!r} (the manifest has {', '.join(names)})"
            )
        return kept


def shared_emotions(*corpora: Iterable[str]) -> tuple[str, ...]:
    """Emotions present in every corpus (each given as its utterances' emotions), in
    `EMOTIONS` order."""
    common = set(EMOTIONS)
    for emotions in corpora:
        common &= set(emotions)
    return tuple(e for e in EMOTIONS if e in common)


class MapBank:
    """Pooled log-mel maps (or encoder vectors) of a set of utterances, on the CPU, with
    labels or without.

    Attributes:
        maps: One [bands, frames] tensor per utterance, or one [dim] encoder vector.
        labels: [n] class indices into the classes the bank was labelled with; None for
            an unlabelled bank (an adaptation target), so no code can read one there.
    """

    def __init__(self, maps: list[torch.Tensor], labels: torch.Tensor | None = None) -> None:
        self.maps = maps
        self.labels = labels

    @classmethod
    def unlabelled(cls, maps: Sequence[torch.Tensor]) -> MapBank:
        return cls(list(maps), None)

    @classmethod
    def labelled(
        cls, maps: Sequence[torch.Tensor], emotions: Sequence[str], classes: Sequence[str]
    ) -> MapBank:
        """The maps whose emotion is in `classes`, labelled by index into `classes`."""
        keep = [i for i, e in enumerate(emotions) if e in classes]
        return cls(
            [maps[i] for i in keep], torch.tensor([classes.index(emotions[i]) for i in keep])
        )

    def __len__(self) -> int:
        return len(self.maps)

    def batch(self, indices: np.ndarray, frames: int, rng: np.random.Generator) -> torch.Tensor:
        """[len(indices), bands, frames] random crops, short maps tiled in time; a bank of
        utterance vectors (encoder features) gives them whole, [len(indices), dim], and
        draws nothing from `rng`."""
        crops = []
        for index in indices:
            m = self.maps[index]
            if m.dim() == 1:
                crops.append(m)
                continue
            if m.shape[1] < frames:
                m = m.repeat(1, -(-frames // m.shape[1]))
            start = int(rng.integers(0, m.shape[1] - frames + 1))
            crops.append(m[:, start : start + frames])
        return torch.stack(crops)


def extract_maps(
    utterances: Sequence[Utterance],
    extract: Callable[[torch.Tensor], torch.Tensor],
    min_samples: int,
) -> list[torch.Tensor]:
    """Pooled maps of whole utterances; `extract` is `DidanNet.maps` (it has no parameters)."""
    return clip_maps(AudioCache(utterances).audio, extract, min_samples)


def clip_maps(
    audio: Sequence[np.ndarray],
    extract: Callable[[torch.Tensor], torch.Tensor],
    min_samples: int,
) -> list[torch.Tensor]:
    """Pooled maps of canonical int16 clips, each fitted to [min_samples, MAX_SECONDS]."""
    limit = int(MAX_SECONDS * SAMPLE_RATE_HZ)
    maps = []
    with torch.no_grad():
        for samples in audio:
            waveform = fit_length(int16_to_float(samples), min_samples, limit)
            maps.append(extract(torch.from_numpy(np.ascontiguousarray(waveform))[None])[0])
    return maps


def batches(count: int, size: int, rng: np.random.Generator):
    """Endless shuffled index batches over `count` items (reshuffled every pass)."""
    while True:
        order = rng.permutation(count)
        for start in range(0, count - size + 1, size):
            yield order[start : start + size]
        if count < size:
            yield rng.choice(count, size=size, replace=True)
