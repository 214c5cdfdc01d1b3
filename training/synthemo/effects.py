"""The engine-independent half of rendering: sox pitch and voice quality, then level.

Everything here runs identically for every engine, so an emotion's colouring does
not depend on which synthesiser spoke. sox runs with `-D` (no dither) and `-R`
(fixed random seed) on raw float32 pipes, so its output is byte-reproducible.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Sequence

import numpy as np

from streamser.constants import SAMPLE_RATE_HZ
from training.synthemo.errors import EngineMissingError, SynthesisError
from training.synthemo.prosody import VoiceQuality

REFERENCE_LEVEL_DBFS = -28.0
"""Active speech level of a neutral utterance. Gains up to +10 dB plus the crest
factor of speech still fit under full scale, so emotions keep their level differences."""

PEAK_LIMIT = 0.98
FRAME_MS = 30


def check_sox() -> None:
    """Raises `EngineMissingError` when sox is absent: every corpus needs it."""
    if shutil.which("sox") is None:
        raise EngineMissingError(
            "sox is not installed (needed for every corpus): apt-get install sox"
        )


def run_sox(
    samples: np.ndarray,
    in_rate_hz: int,
    effects: Sequence[str],
    out_rate_hz: int = SAMPLE_RATE_HZ,
) -> np.ndarray:
    """Pipe mono float32 through a sox effect chain; sox resamples to `out_rate_hz` last."""
    command = [
        "sox", "-D", "-R", "-V1",
        "-t", "f32", "-r", str(in_rate_hz), "-c", "1", "-",
        "-t", "f32", "-r", str(out_rate_hz), "-c", "1", "-",
        *effects,
    ]  # fmt: skip
    done = subprocess.run(
        command,
        input=np.ascontiguousarray(samples, dtype=np.float32).tobytes(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise SynthesisError(f"sox {' '.join(effects)} failed: {done.stderr.decode().strip()}")
    return np.frombuffer(done.stdout, dtype=np.float32).copy()


def voice_stage(
    samples: np.ndarray, rate_hz: int, pitch_ratio: float, quality: VoiceQuality
) -> np.ndarray:
    """Residual F0 shift plus voice-quality effects, resampled to 16 kHz."""
    effects: list[str] = []
    cents = 1200.0 * math.log2(pitch_ratio)
    if abs(cents) >= 1.0:
        effects += ["pitch", f"{cents:.1f}"]
    effects += quality.sox_effects()
    # Overdrive's even harmonics bring a signal-dependent DC offset; a 40 Hz high-pass
    # (below any voice's F0) removes it for every utterance alike.
    effects += ["highpass", "40"]
    return run_sox(samples, rate_hz, effects)


def frame_levels_db(samples: np.ndarray, rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Mean-square level per 30 ms frame in dB (full-scale sine = -3 dB)."""
    size = rate_hz * FRAME_MS // 1000
    count = len(samples) // size
    if count == 0:
        return np.zeros(0)
    frames = np.asarray(samples[: count * size], dtype=np.float64).reshape(count, size)
    return 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def active_mask(levels_db: np.ndarray, floor_db: float = 35.0) -> np.ndarray:
    """Frames within `floor_db` of the loudest: speech, not the pauses between words."""
    if levels_db.size == 0:
        return np.zeros(0, dtype=bool)
    return levels_db > levels_db.max() - floor_db


def active_level_db(samples: np.ndarray, rate_hz: int = SAMPLE_RATE_HZ) -> float:
    """RMS level of the active frames in dBFS, the level the rules' gains refer to."""
    levels = frame_levels_db(samples, rate_hz)
    mask = active_mask(levels)
    if not mask.any():
        return -120.0
    return float(10.0 * np.log10(np.mean(10.0 ** (levels[mask] / 10.0))))


def level_stage(samples: np.ndarray, gain_db: float) -> np.ndarray:
    """Set the active level to the reference plus the emotion's gain.

    Engines and voices differ by 10 dB and more in output level; normalising first
    removes that, and the gain then puts back exactly the rule's intensity change.
    """
    level = active_level_db(samples)
    scaled = samples * 10.0 ** ((REFERENCE_LEVEL_DBFS + gain_db - level) / 20.0)
    return scaled.astype(np.float32)


def limit_peaks(samples: np.ndarray) -> np.ndarray:
    """Scale down only when a peak would clip; rare at the reference level."""
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak > PEAK_LIMIT:
        samples = samples * (PEAK_LIMIT / peak)
    return samples.astype(np.float32)


def trim_silence(samples: np.ndarray, margin_ms: int = 150) -> np.ndarray:
    """Cut leading and trailing silence to a fixed margin, so durations compare across engines."""
    levels = frame_levels_db(samples)
    mask = active_mask(levels, floor_db=50.0)
    if not mask.any():
        return samples
    size = SAMPLE_RATE_HZ * FRAME_MS // 1000
    margin = SAMPLE_RATE_HZ * margin_ms // 1000
    first = np.argmax(mask) * size
    last = (len(mask) - np.argmax(mask[::-1])) * size
    start = max(0, first - margin)
    end = min(len(samples), last + margin)
    body = samples[start:end]
    pad_start = np.zeros(max(0, margin - first), dtype=np.float32)
    pad_end = np.zeros(max(0, last + margin - len(samples)), dtype=np.float32)
    return np.concatenate([pad_start, body, pad_end]).astype(np.float32)
