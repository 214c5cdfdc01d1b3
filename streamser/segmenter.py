"""Per-frame speech decisions -> utterance spans.

A small state machine in the style of py-webrtcvad's example and silero's
`VADIterator`: an utterance starts when enough of the recent frames are speech,
reaches back a little (pre-roll) for the soft onset the detector misses, ends
when enough of the recent frames are not speech (the hangover), and is cut into
consecutive pieces when it runs longer than the maximum. Spans are absolute
sample indices of the stream and never overlap, so the ring buffer can hand them
out without copying.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from streamser.constants import FRAME_MS, FRAME_SAMPLES
from streamser.vad import Vad, VadOptions


@dataclass(frozen=True)
class SegmenterOptions:
    """How frames become utterances: the detector and the state machine around it.
    Durations are rounded up to whole 30 ms frames unless noted.

    Attributes:
        vad: Which detector decides speech per frame, and how eagerly
            (webrtcvad aggressiveness, silero threshold).
        pre_roll_ms: Audio kept before the first speech frame of the window that
            started the utterance (onsets are soft; the detector is late).
        start_window_ms: Window over which speech frames are counted to start.
        start_ratio: Share of speech frames in that window that starts an utterance.
        hangover_ms: Window over which non-speech frames are counted to stop; the
            utterance ends with this much mostly-silent audio, and its event can
            come no earlier than this after the speech ends.
        stop_ratio: Share of non-speech frames in the hangover window that stops it.
        min_speech_ms: Utterances with less speech than this (coughs, clicks) are
            not segmented; they are counted as `too_short`.
        max_utterance_ms: Longer speech is cut into consecutive utterances of at
            most this length (rounded down to whole frames), so events keep
            coming during a monologue.
    """

    vad: VadOptions = field(default_factory=VadOptions)
    pre_roll_ms: int = 300
    start_window_ms: int = 240
    start_ratio: float = 0.6
    hangover_ms: int = 300
    stop_ratio: float = 0.9
    min_speech_ms: int = 300
    max_utterance_ms: int = 8000

    def __post_init__(self) -> None:
        for name in ("start_window_ms", "hangover_ms", "max_utterance_ms"):
            if getattr(self, name) < FRAME_MS:
                raise ValueError(f"{name} must be at least one {FRAME_MS} ms frame")
        for name in ("pre_roll_ms", "min_speech_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        for name in ("start_ratio", "stop_ratio"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} {getattr(self, name)} is outside (0, 1]")
        if self.min_speech_ms > self.max_utterance_ms:
            raise ValueError("min_speech_ms is longer than max_utterance_ms")

    @property
    def max_span_samples(self) -> int:
        """The longest span the segmenter can emit."""
        return (self.max_utterance_ms // FRAME_MS) * FRAME_SAMPLES

    @property
    def min_span_samples(self) -> int:
        """The shortest span the segmenter can emit (its speech frames alone)."""
        return max(1, _frames(self.min_speech_ms)) * FRAME_SAMPLES

    @property
    def reach_back_samples(self) -> int:
        """How far behind the newest frame a span may start when it is opened."""
        return (_frames(self.pre_roll_ms) + _frames(self.start_window_ms)) * FRAME_SAMPLES

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Span:
    """One utterance as absolute sample indices of its stream.

    Attributes:
        start: First sample (inclusive).
        end: Last sample (exclusive); the end of the frame that closed the span.
        speech_frames: Frames the detector called speech.
        cut: True when the maximum length ended it, not silence.
    """

    start: int
    end: int
    speech_frames: int
    cut: bool = False


def _frames(ms: int) -> int:
    return max(0, math.ceil(ms / FRAME_MS))


class Segmenter:
    """Feeds one stream's frames to a detector and returns the spans it closes.

    `process(frame)` usually returns an empty list; `process_frames(samples)` does the
    same for a whole number of frames at once (one detector call over the block);
    `flush()` closes an open utterance at end of input; `reset()` starts the stream
    over at sample 0.

    The recent decisions are the bits of one integer (bit 0 the newest; frames before
    the stream, or before an interruption, are 0: silence), so each window count is
    a mask and a `bit_count`, with no list per frame.
    """

    def __init__(self, vad: Vad, options: SegmenterOptions = SegmenterOptions()) -> None:
        self.vad = vad
        self.options = options
        self._pre_roll = _frames(options.pre_roll_ms)
        self._start_window = _frames(options.start_window_ms)
        self._start_count = math.ceil(options.start_ratio * self._start_window - 1e-9)
        self._hangover = _frames(options.hangover_ms)
        self._stop_count = math.ceil(options.stop_ratio * self._hangover - 1e-9)
        self._min_speech = _frames(options.min_speech_ms)
        self._max_frames = options.max_utterance_ms // FRAME_MS
        kept = max(self._start_window + self._pre_roll, self._hangover)
        self._kept_mask = (1 << kept) - 1
        self._start_mask = (1 << self._start_window) - 1
        self._hangover_mask = (1 << self._hangover) - 1
        self._speech_frames = getattr(vad, "speech_frames", None)
        self.reset()

    def reset(self) -> None:
        self.vad.reset()
        self._bits = 0
        self.frames = 0
        """Frames processed since the start (or the last reset)."""
        self.too_short = 0
        """Speech bursts closed with less than `min_speech_ms` of speech."""
        self.triggered = False
        self._start = 0
        self._speech = 0
        self._last_end = 0

    def process(self, frame: np.ndarray) -> list[Span]:
        """One FRAME_SAMPLES int16 frame -> the spans it closed (usually none)."""
        if len(frame) != FRAME_SAMPLES:
            raise ValueError(f"frames are {FRAME_SAMPLES} samples, got {len(frame)}")
        return self._step(bool(self.vad.is_speech(frame)))

    def process_frames(self, samples: np.ndarray) -> list[Span]:
        """Consecutive frames (a whole number of FRAME_SAMPLES) -> the spans they closed;
        the same spans as `process` on each frame in turn."""
        if len(samples) % FRAME_SAMPLES:
            raise ValueError(f"{len(samples)} samples is not a whole number of frames")
        if self._speech_frames is None:
            decisions = [bool(self.vad.is_speech(f)) for f in samples.reshape(-1, FRAME_SAMPLES)]
        else:
            decisions = self._speech_frames(samples)
        spans: list[Span] = []
        for speech in decisions:
            closed = self._step(speech)
            if closed:
                spans += closed
        return spans

    def _step(self, speech: bool) -> list[Span]:
        index = self.frames
        self.frames += 1
        self._bits = ((self._bits << 1) | speech) & self._kept_mask
        if not self.triggered:
            self._maybe_start(index)
            return []
        self._speech += speech
        silent = self._hangover - (self._bits & self._hangover_mask).bit_count()
        if silent >= self._stop_count:
            return self._close(index + 1, cut=False)
        if index + 1 - self._start >= self._max_frames:
            return self._close(index + 1, cut=True)
        return []

    def flush(self) -> list[Span]:
        """Closes the open utterance, if any, at the last frame processed."""
        if not self.triggered:
            return []
        return self._close(self.frames, cut=False)

    def interrupt(self) -> list[Span]:
        """The input skips ahead (audio left out): closes the open utterance and forgets
        the frames before, so no span and no pre-roll reaches across the gap."""
        spans = self.flush()
        self._bits = 0
        self._last_end = self.frames
        return spans

    def _maybe_start(self, index: int) -> None:
        window = self._bits & self._start_mask
        if window.bit_count() < self._start_count:
            return
        # The oldest speech frame of the window is its highest set bit.
        first_speech = index - window.bit_length() + 1
        start = max(first_speech - self._pre_roll, self._last_end, 0)
        reach = index + 1 - start
        self.triggered = True
        self._start = start
        self._speech = (self._bits & ((1 << reach) - 1)).bit_count()

    def _close(self, end: int, cut: bool) -> list[Span]:
        span = Span(self._start * FRAME_SAMPLES, end * FRAME_SAMPLES, self._speech, cut)
        self._last_end = end
        if cut:
            self._start = end  # speech goes on: the next piece starts here
            self._speech = 0
        else:
            self.triggered = False
        if span.speech_frames < max(self._min_speech, 1):
            self.too_short += 1
            return []
        return [span]
