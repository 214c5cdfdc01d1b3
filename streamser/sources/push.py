"""PCM that another program pushes in: a telephony socket, a media server, a test."""

from __future__ import annotations

import queue
from collections.abc import Iterator

import numpy as np

from streamser.audio import AudioFormat, ChannelMode, Encoding, StreamConverter
from streamser.audio.formats import decode_samples
from streamser.constants import SAMPLE_RATE_HZ
from streamser.sources.base import DOWNMIX, Source, stream_names

CANONICAL = AudioFormat(SAMPLE_RATE_HZ, 1, Encoding.PCM_S16)
_END = object()
WAIT_SLICE_S = 0.1


class PushSource(Source):
    """A source fed by `push()` from the caller's thread and read by the runtime's.

    Args:
        fmt: Format of pushed bytes (and the rate/channels of pushed arrays).
        channel_mode: Downmix, select or split the pushed channels.
        live: True (default) when the producer cannot wait: `push` never blocks and
            a block that finds the buffer full is lost and counted as an overflow.
            False makes `push` wait for room instead.
        name: Shown in the summary.
        max_blocks: Blocks buffered between `push` and the runtime.
    """

    kind = "push"

    def __init__(
        self,
        fmt: AudioFormat = CANONICAL,
        channel_mode: ChannelMode = DOWNMIX,
        live: bool = True,
        name: str = "<push>",
        max_blocks: int = 256,
    ) -> None:
        super().__init__()
        self.format = fmt
        self.name = name
        self.live = live
        self.stream_names = stream_names(fmt, channel_mode)
        self._converter = StreamConverter(fmt, channel_mode, name=name)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_blocks)
        self._remainder = b""

    def push(self, data: bytes | np.ndarray) -> None:
        """Adds audio: bytes in `fmt`, or int16/float samples `[frames]` or `[frames, channels]`."""
        block = self._decode(data)
        if len(block) == 0:
            return
        if self.live:
            try:
                self._queue.put_nowait(block)
            except queue.Full:
                self.overflows += 1
            return
        self._put(block)

    def end(self) -> None:
        """No more audio: the runtime closes the open utterance and finishes."""
        self._put(_END)

    def blocks(self) -> Iterator[list[np.ndarray]]:
        while True:
            try:
                item = self._queue.get(timeout=WAIT_SLICE_S)
            except queue.Empty:
                if self.stopped:
                    return
                continue
            if item is _END:
                break
            yield self._converter.process(item)
        tail = self._converter.flush()
        if len(tail[0]):
            yield tail

    def _put(self, item: object) -> None:
        while not self.stopped:
            try:
                self._queue.put(item, timeout=WAIT_SLICE_S)
                return
            except queue.Full:
                continue

    def _decode(self, data: bytes | np.ndarray) -> np.ndarray:
        channels = self.format.channels
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = self._remainder + bytes(data)
            whole = len(data) - len(data) % self.format.bytes_per_frame
            self._remainder = data[whole:]
            return decode_samples(data[:whole], self.format)
        array = np.asarray(data)
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape[1] != channels:
            raise ValueError(
                f"expected [frames] or [frames, {channels}] samples, got {array.shape}"
            )
        if array.dtype == np.int16:
            return array.astype(np.float32) / 32768.0
        if np.issubdtype(array.dtype, np.floating):
            return np.clip(np.nan_to_num(array.astype(np.float32)), -1.0, 1.0)
        raise ValueError(f"pushed arrays must be int16 or float, got {array.dtype}")
