"""Frozen-encoder embeddings of utterances, computed once and kept on disk.

The encoder never trains, so an utterance's embedding is a fixed function of its
audio: every head, fold and experiment reads the same cached vectors instead of
running a 4-layer transformer again. The vectors come from the graph the exported
model contains (`training.encoder.graph.vector_model`): what a head trains on is
exactly what it will be given at run time.

A cache file holds one channel for one encoder setting, its rows keyed by the
utterances' paths.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from streamser.audio.formats import int16_to_float
from streamser.model import exact_int8, fit_length
from training.encoder.fetch import sha256_of
from training.encoder.frontend import WINDOW_SAMPLES
from training.encoder.graph import FRAMES, LAYER_OUTPUTS, POOLED, vector_model, vector_name

log = logging.getLogger(__name__)

MIN_SAMPLES = 1600
"""0.1 s: shorter utterances are repeated up to it, as the runtime does."""
ALL_OUTPUTS = (POOLED, *LAYER_OUTPUTS, FRAMES)
"""What a cache file holds: one encoder run yields them all, heads pick."""


@dataclass(frozen=True)
class EncoderSetting:
    """Attributes:
    outputs: Encoder tensors to keep (`training.encoder.graph` names).
    pad: Where the utterance sits in the 8 s window ("left": at its end).
    """

    outputs: tuple[str, ...] = ALL_OUTPUTS
    pad: str = "left"

    def key(self) -> str:
        text = json.dumps({**asdict(self), "vectors": VECTORS_VERSION})
        return hashlib.sha256(text.encode()).hexdigest()[:10]


VECTORS_VERSION = 4
"""Raised whenever `vector_model` computes something else, so old caches are not read
(4: int8 products kept exact, `streamser.model.exact_int8`)."""


def vectors_key(encoder: Path, setting: EncoderSetting = EncoderSetting()) -> str:
    """What names the vectors of one encoder file and setting: a cache file holds them
    under it, and whatever was computed from them (a finished fold) is valid while it
    stays the same. The file's hash keeps a stand-in's vectors from mixing with the
    real ones."""
    return f"{setting.key()}-{sha256_of(encoder)[:10]}"


class Embedder:
    """Runs front end and encoder over utterances, one at a time, one thread."""

    def __init__(self, encoder: Path, setting: EncoderSetting = EncoderSetting()) -> None:
        import onnxruntime

        self.setting = setting
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        exact_int8(options)  # the vectors the runtime computes, on any x86 CPU
        model = vector_model(encoder, setting.outputs, setting.pad)
        self._names = [vector_name(name) for name in setting.outputs]
        self._session = onnxruntime.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

    def embed(self, clip: np.ndarray) -> dict[str, np.ndarray]:
        """One int16 utterance -> per encoder output, its vector (`vector_name`)."""
        waveform = fit_length(int16_to_float(clip), MIN_SAMPLES, WINDOW_SAMPLES)
        values = self._session.run(self._names, {"waveform": waveform[None]})
        return {
            name: value[0].astype(np.float32)
            for name, value in zip(self.setting.outputs, values, strict=True)
        }


def cached_embeddings(
    encoder: Path,
    paths: Sequence[str],
    audio: Callable[[list[int]], Sequence[np.ndarray]],
    channel: str,
    cache: Path,
    setting: EncoderSetting = EncoderSetting(),
) -> dict[str, np.ndarray]:
    """Per encoder output, [len(paths), dim] vectors of one channel's audio.

    The cache holds one file per channel and setting, its rows keyed by the
    utterance's path, so any set of utterances reuses what an earlier one
    computed. Only the missing utterances are decoded (`audio(indices)` returns
    their int16 audio as heard on `channel`) and embedded, and the file is saved
    every 100 of them: an interrupted run continues where it stopped.
    """
    path = Path(cache) / f"{channel}-{vectors_key(encoder, setting)}.npz"
    stored_paths: list[str] = []
    stored: dict[str, list[np.ndarray]] = {name: [] for name in setting.outputs}
    if path.exists():
        with np.load(path) as data:
            stored_paths = [str(p) for p in data["paths"]]
            stored = {name: list(data[name]) for name in setting.outputs}
    index = {p: i for i, p in enumerate(stored_paths)}
    missing = [i for i, p in enumerate(paths) if str(p) not in index]
    if missing:
        embedder = Embedder(encoder, setting)
        for start in range(0, len(missing), 100):
            chunk = missing[start : start + 100]
            for i, clip in zip(chunk, audio(chunk), strict=True):
                for name, vector in embedder.embed(clip).items():
                    stored[name].append(vector)
                index[str(paths[i])] = len(stored_paths)
                stored_paths.append(str(paths[i]))
            _save(path, stored_paths, stored)
            log.info("%s: embedded %d/%d", channel, start + len(chunk), len(missing))
    rows = [index[str(p)] for p in paths]
    return {name: np.stack([stored[name][r] for r in rows]) for name in setting.outputs}


def _save(path: Path, paths: list[str], stored: dict[str, list[np.ndarray]]) -> None:
    """Atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.npz")
    np.savez(partial, paths=np.array(paths), **{n: np.stack(v) for n, v in stored.items()})
    partial.replace(path)
