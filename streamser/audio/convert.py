"""Convert decoded audio to the canonical stream: 16 kHz, mono, int16.

Call recordings carry agent and customer on separate channels, so a stereo input
can be downmixed, reduced to one channel, or split into one canonical stream per
channel. Resampling is soxr's streaming resampler, so block boundaries do not
change the output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from streamser.audio.formats import AudioFormat, float_to_int16
from streamser.audio.reader import AudioInput, open_audio
from streamser.constants import SAMPLE_RATE_HZ
from streamser.errors import AudioFormatError


@dataclass(frozen=True)
class ChannelMode:
    """What to do with a multi-channel input.

    Attributes:
        kind: "downmix" averages all channels; "select" keeps `channel`; "split"
            makes one output stream per input channel.
        channel: Zero-based channel index for "select".
    """

    kind: Literal["downmix", "select", "split"] = "downmix"
    channel: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("downmix", "select", "split"):
            raise ValueError(
                f"unknown channel mode {self.kind!r} (accepted: downmix, select, split)"
            )
        if (self.kind == "select") != (self.channel is not None):
            raise ValueError("a channel index goes with kind='select' and only with it")
        if self.channel is not None and self.channel < 0:
            raise ValueError(f"channel index {self.channel} is negative")

    @classmethod
    def parse(cls, text: str) -> ChannelMode:
        """`downmix`, `split`, or a zero-based channel number."""
        if text in ("downmix", "split"):
            return cls(kind=text)  # type: ignore[arg-type]
        if text.isdigit():
            return cls(kind="select", channel=int(text))
        raise ValueError(f"channel mode {text!r}: expected downmix, split or a channel number")

    def output_count(self, channels: int) -> int:
        return channels if self.kind == "split" else 1


class StreamConverter:
    """Turns native float32 blocks into canonical int16 blocks, one list entry per output.

    Stateful (the resampler keeps history): feed blocks in order with `process`,
    then call `flush` once at end of input.
    """

    def __init__(
        self,
        native: AudioFormat,
        mode: ChannelMode = ChannelMode(),
        target_rate_hz: int = SAMPLE_RATE_HZ,
        name: str = "<audio>",
    ) -> None:
        if mode.kind == "select" and mode.channel >= native.channels:
            raise AudioFormatError(
                f"{name}: channel {mode.channel} asked for, but the input has "
                f"{native.channels} channel(s) (0..{native.channels - 1})"
            )
        self.native = native
        self.mode = mode
        self.target_rate_hz = target_rate_hz
        self.outputs = mode.output_count(native.channels)
        self._resampler = None
        if native.sample_rate_hz != target_rate_hz:
            import soxr

            self._resampler = soxr.ResampleStream(
                native.sample_rate_hz, target_rate_hz, self.outputs, dtype="float32", quality="HQ"
            )

    def process(self, block: np.ndarray) -> list[np.ndarray]:
        """One native `[frames, channels]` float32 block -> canonical int16 arrays."""
        return self._finish(self._select(block), last=False)

    def flush(self) -> list[np.ndarray]:
        """The resampler's tail; the converter is finished afterwards."""
        empty = np.zeros((0, self.outputs), dtype=np.float32)
        return self._finish(empty, last=True)

    def _select(self, block: np.ndarray) -> np.ndarray:
        if self.mode.kind == "downmix":
            if block.shape[1] == 1:  # the mean of one channel is that channel
                return block
            return block.mean(axis=1, keepdims=True, dtype=np.float32)
        if self.mode.kind == "select":
            return block[:, self.mode.channel : self.mode.channel + 1]
        return block

    def _finish(self, block: np.ndarray, last: bool) -> list[np.ndarray]:
        if self._resampler is not None:
            block = self._resampler.resample_chunk(np.ascontiguousarray(block), last=last)
            block = block.reshape(-1, self.outputs)
        samples = float_to_int16(block)
        if self.outputs == 1:
            return [samples.reshape(-1)]
        return [np.ascontiguousarray(samples[:, i]) for i in range(self.outputs)]


def load_canonical(
    source: AudioInput,
    mode: ChannelMode = ChannelMode(),
    raw_format: AudioFormat | None = None,
) -> list[np.ndarray]:
    """A whole input as canonical int16 streams (one unless `mode` splits channels)."""
    with open_audio(source, raw_format) as reader:
        converter = StreamConverter(reader.format, mode, name=reader.name)
        parts: list[list[np.ndarray]] = [[] for _ in range(converter.outputs)]
        for block in reader.blocks():
            for part, samples in zip(parts, converter.process(block), strict=True):
                part.append(samples)
        for part, samples in zip(parts, converter.flush(), strict=True):
            part.append(samples)
    return [np.concatenate(p) for p in parts]


def load_mono(source: AudioInput, raw_format: AudioFormat | None = None) -> np.ndarray:
    """A whole input downmixed to one canonical int16 stream."""
    return load_canonical(source, ChannelMode(), raw_format)[0]
