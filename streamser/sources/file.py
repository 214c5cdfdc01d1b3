"""Files, pipes and standard input: WAV/FLAC by path, WAV or raw PCM on a stream."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from streamser.audio import AudioFormat, ChannelMode, StreamConverter, open_audio
from streamser.audio.pipe import ReadStopped
from streamser.audio.reader import AudioInput
from streamser.constants import FRAME_MS, SAMPLE_RATE_HZ
from streamser.sources.base import DOWNMIX, Source, stream_names

FAST_BLOCK_FRAMES = 4096
"""Native frames per read when playing as fast as possible."""


class FileSource(Source):
    """A path, `"-"` (standard input) or a binary stream, decoded and converted.

    Args:
        source: What to read.
        raw_format: The format of headerless PCM; None for WAV and other containers.
        channel_mode: Downmix, select one channel, or split into one stream per channel.
        realtime: Pace the audio at real time, 30 ms at a time, like a microphone.
            A paced file is live: it does not wait for a slow worker.

    Raises:
        SourceError: The input cannot be opened.
        AudioFormatError: Its header is not audio streamser decodes.
    """

    kind = "file"

    def __init__(
        self,
        source: AudioInput,
        raw_format: AudioFormat | None = None,
        channel_mode: ChannelMode = DOWNMIX,
        realtime: bool = False,
    ) -> None:
        super().__init__()
        # A stop ends a read that waits on an idle pipe, so the capture thread ends too.
        self._reader = open_audio(source, raw_format, stop=self._stop)
        try:
            self._converter = StreamConverter(
                self._reader.format, channel_mode, name=self._reader.name
            )
        except Exception:
            self._reader.close()
            raise
        self.name = self._reader.name
        self.format = self._reader.format
        self.live = realtime
        self.stream_names = stream_names(self.format, channel_mode)
        self._block_frames = (
            max(1, self.format.sample_rate_hz * FRAME_MS // 1000) if realtime else FAST_BLOCK_FRAMES
        )

    def blocks(self) -> Iterator[list[np.ndarray]]:
        try:
            yield from self._blocks()
        except ReadStopped:
            return

    def _blocks(self) -> Iterator[list[np.ndarray]]:
        began = time.monotonic()
        emitted = 0
        for block in self._reader.blocks(self._block_frames):
            if self.stopped:
                return
            out = self._converter.process(block)
            if self.live:
                # A microphone hands over a buffer once it has been recorded.
                emitted += len(out[0])
                delay = began + emitted / SAMPLE_RATE_HZ - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
            yield out
        tail = self._converter.flush()
        if len(tail[0]):
            yield tail

    def close(self) -> None:
        self._reader.close()
