"""Frame-level voice activity: webrtcvad by default, silero-vad's ONNX model on request.

Both answer one question per canonical 30 ms frame: is this speech? They keep
per-stream state (webrtcvad adapts its noise floor; silero carries a recurrent
state), so each stream owns its own detector; the silero ONNX session itself is
shared by all streams of a process.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from streamser.constants import FRAME_SAMPLES, SAMPLE_RATE_HZ
from streamser.errors import StreamserError

log = logging.getLogger(__name__)

VAD_KINDS = ("webrtc", "silero")
SILERO_CHUNK_SAMPLES = 512
"""silero-vad v5 reads 512-sample chunks at 16 kHz..."""
SILERO_CONTEXT_SAMPLES = 64
"""...each preceded by the last 64 samples of the chunk before."""
SILERO_ONNX = "silero_vad.onnx"


@dataclass(frozen=True)
class VadOptions:
    """Which detector decides speech per frame.

    Attributes:
        kind: "webrtc" (webrtcvad, microseconds per frame) or "silero" (silero-vad's
            ONNX model through onnxruntime; more robust to noise, about 0.2 ms per frame).
        aggressiveness: webrtcvad mode 0-3; higher calls less audio speech. 2 keeps
            soft emotional speech (sighs, whispers) while rejecting steady noise.
        silero_threshold: Speech probability at or above which silero says speech.
    """

    kind: str = "webrtc"
    aggressiveness: int = 2
    silero_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in VAD_KINDS:
            raise ValueError(f"unknown VAD {self.kind!r} (accepted: {', '.join(VAD_KINDS)})")
        if self.aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"VAD aggressiveness {self.aggressiveness} is outside 0..3")
        if not 0 < self.silero_threshold < 1:
            raise ValueError(f"silero threshold {self.silero_threshold} is outside (0, 1)")


class Vad(Protocol):
    """Per-stream speech detector over canonical frames."""

    def is_speech(self, frame: np.ndarray) -> bool:
        """`frame` is FRAME_SAMPLES int16 samples at 16 kHz."""

    def speech_frames(self, samples: np.ndarray) -> list[bool]:
        """One decision per FRAME_SAMPLES frame of `samples` (a whole number of frames),
        the same as `is_speech` on each frame in turn."""

    def reset(self) -> None:
        """Forget everything heard so far."""


class WebRtcVad:
    """webrtcvad (the `webrtcvad-wheels` distribution) on 30 ms frames.

    webrtcvad decides one 10/20/30 ms frame per C call and offers no call over many
    frames; `speech_frames` makes those calls straight on one buffer of the block
    (no copy or Python wrapper per frame), which leaves the C work itself (a few
    microseconds a frame).
    """

    def __init__(self, aggressiveness: int = 2) -> None:
        import webrtcvad

        self._module = webrtcvad
        self._aggressiveness = aggressiveness
        self._vad = webrtcvad.Vad(aggressiveness)
        self._process = _native_process()

    def is_speech(self, frame: np.ndarray) -> bool:
        return self._vad.is_speech(
            np.ascontiguousarray(frame, dtype="<i2").tobytes(), SAMPLE_RATE_HZ
        )

    def speech_frames(self, samples: np.ndarray) -> list[bool]:
        samples = np.ascontiguousarray(samples, dtype="<i2")
        if len(samples) % FRAME_SAMPLES:
            raise ValueError(f"{len(samples)} samples is not a whole number of frames")
        if self._process is None:  # pragma: no cover - a webrtcvad without _webrtcvad
            frames = samples.reshape(-1, FRAME_SAMPLES)
            return [bool(self.is_speech(frame)) for frame in frames]
        process, handle, data = self._process, self._vad._vad, memoryview(samples).cast("B")
        step = 2 * FRAME_SAMPLES
        if len(data) == step:  # a 20 ms call message completes at most one frame
            return [bool(process(handle, SAMPLE_RATE_HZ, data, FRAME_SAMPLES))]
        return [
            bool(process(handle, SAMPLE_RATE_HZ, data[i : i + step], FRAME_SAMPLES))
            for i in range(0, len(data), step)
        ]

    def reset(self) -> None:
        # The noise-floor estimate lives inside the C object; a new one forgets it.
        self._vad = self._module.Vad(self._aggressiveness)


def _native_process():
    """webrtcvad's C entry point (what `Vad.is_speech` calls after checking lengths)."""
    try:
        import _webrtcvad
    except ImportError:  # pragma: no cover - every webrtcvad wheel ships it
        return None
    return getattr(_webrtcvad, "process", None)


class SileroModel:
    """silero-vad's ONNX file in one shared onnxruntime session (no torch)."""

    _shared: SileroModel | None = None
    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self.path = path

    @classmethod
    def shared(cls) -> SileroModel:
        """The process's one session, loaded on first use."""
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls(silero_onnx_path())
            return cls._shared

    def run(self, chunk: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        """One `[1, context + 512]` float32 chunk -> (speech probability, next state)."""
        out, next_state = self.session.run(
            ["output", "stateN"],
            {"input": chunk, "state": state, "sr": np.array(SAMPLE_RATE_HZ, dtype=np.int64)},
        )
        return float(out[0, 0]), next_state


def silero_onnx_path() -> Path:
    """The ONNX file the silero-vad wheel ships, found without importing it (it imports torch).

    Raises:
        StreamserError: silero-vad is not installed, or the file is not where expected.
    """
    spec = importlib.util.find_spec("silero_vad")
    fix = "pip install --no-deps silero-vad (its torch dependency is not needed)"
    if spec is None or spec.origin is None:
        raise StreamserError(f"--vad silero needs the silero-vad package: {fix}")
    path = Path(spec.origin).parent / "data" / SILERO_ONNX
    if not path.is_file():
        raise StreamserError(
            f"silero-vad is installed but {path.name} is missing; reinstall: {fix}"
        )
    return path


class SileroVad:
    """silero-vad on canonical frames: 480-sample frames are re-cut into 512-sample chunks.

    A frame's answer is the probability of the latest complete chunk, so it lags
    the audio by under one chunk (32 ms); the segmenter's windows absorb that.
    """

    def __init__(self, threshold: float = 0.5, model: SileroModel | None = None) -> None:
        self._model = model or SileroModel.shared()
        self._threshold = threshold
        self.reset()

    def is_speech(self, frame: np.ndarray) -> bool:
        samples = np.asarray(frame, dtype=np.float32) / 32768.0
        self._pending = np.concatenate([self._pending, samples])
        while len(self._pending) >= SILERO_CHUNK_SAMPLES:
            chunk = self._pending[:SILERO_CHUNK_SAMPLES]
            self._pending = self._pending[SILERO_CHUNK_SAMPLES:]
            window = np.concatenate([self._context, chunk])[None, :]
            self._probability, self._state = self._model.run(window, self._state)
            self._context = chunk[-SILERO_CONTEXT_SAMPLES:]
        return self._probability >= self._threshold

    def speech_frames(self, samples: np.ndarray) -> list[bool]:
        frames = np.asarray(samples).reshape(-1, FRAME_SAMPLES)
        return [self.is_speech(frame) for frame in frames]

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(SILERO_CONTEXT_SAMPLES, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self._probability = 0.0


def make_vad(options: VadOptions) -> Vad:
    """A fresh per-stream detector."""
    if options.kind == "silero":
        return SileroVad(options.silero_threshold)
    return WebRtcVad(options.aggressiveness)
