"""eGeMAPS v02 functionals of whole utterances: the input of the classic reference row.

The 88 functionals of Eyben et al. (2016) are the standard hand-crafted features of
speech emotion recognition baselines. They come from afx-audio's MIT
re-implementation rather than openSMILE, whose licence forbids use in products; its
values follow openSMILE's closely but not exactly, so published openSMILE numbers
are a guide, not a target.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from afx_audio.extractors.egemaps import EGEMAPS_NAMES, extract_egemaps

from streamser.audio.formats import int16_to_float
from streamser.constants import SAMPLE_RATE_HZ

EGEMAPS_DIM = 88
FEATURE_NAMES: tuple[str, ...] = tuple(EGEMAPS_NAMES)
"""Column names of `egemaps_functionals`, openSMILE's spelling."""


def egemaps_functionals(audio: Sequence[np.ndarray], workers: int = 1) -> np.ndarray:
    """The 88 eGeMAPS v02 functionals of each utterance.

    Every value is finite, whatever the clip: an empty clip is treated as one
    sample of silence, and any NaN or infinity is replaced by 0, which is what afx
    itself reports for a statistic with no valid frames (no voicing in silence, too
    few periods in a 50 ms clip). A degenerate clip thus gives a row, never an error.

    Args:
        audio: int16 mono utterances at the canonical 16 kHz (`AudioCache.audio`).
        workers: Processes to extract with; 1 extracts in this process.

    Returns:
        float64 [len(audio), EGEMAPS_DIM], columns in the order of `FEATURE_NAMES`.

    Raises:
        TypeError: A clip is not int16.
    """
    if workers > 1 and len(audio) > 1:
        # Spawned, not forked: callers usually hold torch, whose threads do not survive fork.
        context = multiprocessing.get_context("spawn")
        chunk = max(1, len(audio) // (4 * workers))
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            rows = list(pool.map(_functionals, audio, chunksize=chunk))
    else:
        rows = [_functionals(clip) for clip in audio]
    return np.array(rows, dtype=np.float64).reshape(len(audio), EGEMAPS_DIM)


def _functionals(clip: np.ndarray) -> np.ndarray:
    if clip.dtype != np.int16:
        raise TypeError(f"expected int16 audio, got {clip.dtype}")
    samples = int16_to_float(clip) if clip.size else np.zeros(1, dtype=np.float32)
    with np.errstate(all="ignore"):
        values = extract_egemaps(samples, SAMPLE_RATE_HZ)["egemaps"][:, 0]
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
