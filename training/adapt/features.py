"""The adaptation network's input: pooled log-mel maps, or frozen encoder vectors.

`log-mel` (the default) is the DIDAN-size network's own input, the pooled maps its
convolutions read. `encoder`: per utterance, the mean and standard deviation over speech
frames of the frozen Whisper-tiny encoder's second layer (`ENCODER_OUTPUTS`), 768
numbers, computed and cached by `training.encoder.embeddings` as the accurate tier's
vectors are (its head reads the first layer). Only the input changes: the layers after
it, the losses and the rows are the same code.

Vectors are cached per utterance on disk, keyed by the recording's path: a clip that is
its whole recording shares its row with every other user of the cache (the accurate
tier's vectors of the same file are the same numbers), a piece cut from a long recording
is keyed by its recording and its place in it. Nothing here reads a label.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from training.adapt.network import FEATURES
from training.encoder.graph import LAYER_OUTPUTS

DEFAULT_EMBEDDINGS = Path("runs/embeddings")
"""Where `streamser adapt --features encoder` keeps encoder vectors by default."""
ENCODER_OUTPUTS = (LAYER_OUTPUTS[1],)
"""The residual stream after the encoder's second layer: the vectors docs/CROSS_CORPUS.md's
encoder runs were measured on."""
CHANNEL = "wideband"
"""The cache channel: recordings as they are (no telephone line, no added margins)."""

__all__ = [
    "CHANNEL",
    "DEFAULT_EMBEDDINGS",
    "ENCODER_OUTPUTS",
    "FEATURES",
    "clip_keys",
    "encoder_input",
    "encoder_vectors",
]


def clip_keys(
    paths: Sequence[Path | str], origins: Sequence[int], whole: Sequence[bool]
) -> list[str]:
    """A cache key per clip: its recording's path when the clip is the recording whole,
    else the path and the piece's number within the recording."""
    keys, seen = [], {}
    for origin, entire in zip(origins, whole, strict=True):
        piece = seen.get(origin, 0)
        seen[origin] = piece + 1
        keys.append(str(paths[origin]) if entire else f"{paths[origin]}#{piece}")
    return keys


def encoder_vectors(
    keys: Sequence[str],
    audio: Callable[[list[int]], Sequence[np.ndarray]],
    cache: Path,
) -> list[torch.Tensor]:
    """One [768] encoder vector per key (`audio(indices)` gives the int16 clips of the
    keys at `indices`, decoded only for those not cached yet)."""
    from training.encoder.embeddings import EncoderSetting, cached_embeddings
    from training.encoder.fetch import encoder_path
    from training.encoder.row import select

    vectors = cached_embeddings(
        encoder_path(), list(keys), audio, CHANNEL, Path(cache), EncoderSetting()
    )
    stacked = torch.from_numpy(
        np.ascontiguousarray(select(vectors, ENCODER_OUTPUTS), dtype=np.float32)
    )
    return list(stacked)


def encoder_input(encoder: Path | None = None) -> dict:
    """What an encoder-feature network reads, recorded in its checkpoint so that export
    builds the graph that computes the same vectors: the encoder tensors, the window's
    padding, and the encoder file's SHA-256 (`encoder`: default the one in use)."""
    from training.encoder.embeddings import EncoderSetting
    from training.encoder.fetch import encoder_path, sha256_of

    return {
        "features": "encoder",
        "outputs": list(ENCODER_OUTPUTS),
        "pad": EncoderSetting().pad,
        "encoder_sha256": sha256_of(Path(encoder) if encoder else encoder_path()),
    }
