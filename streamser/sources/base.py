"""What every audio source gives the runtime: canonical int16 blocks, one per stream."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np

from streamser.audio import AudioFormat, ChannelMode
from streamser.events import InputInfo

DOWNMIX = ChannelMode()
"""The default channel mode: every channel averaged into one stream."""


class Source:
    """An audio input converted to the canonical stream (16 kHz mono int16 per stream).

    Attributes:
        name: Shown in errors and the summary.
        live: True when the audio cannot wait for the worker (a microphone, a
            paced replay): the runtime then drops an utterance rather than block.
            A file is not live: the runtime applies backpressure, never drops, and
            gives the same events however fast the machine is.
        stream_names: One name per output stream.
        overflows: Input overflows so far (audio the device lost before we read it).
        kind: What sort of input it is, for the summary ("file", "microphone", "push").
        format: The input's own audio format, once known.
    """

    kind: str = "source"
    format: AudioFormat | None = None
    name: str = "<source>"
    live: bool = False
    stream_names: tuple[str, ...] = ("ch0",)
    overflows: int = 0

    def __init__(self) -> None:
        self._stop = threading.Event()

    def blocks(self) -> Iterator[list[np.ndarray]]:
        """Lazy iterator of canonical int16 blocks, one array per stream, in order.

        Ends at end of input or soon after `stop()`.

        Raises:
            SourceError: The source failed while being read.
            AudioFormatError: The input turned out not to be decodable.
        """
        raise NotImplementedError

    def describe(self) -> InputInfo:
        return InputInfo(
            self.kind, self.live, None if self.format is None else self.format.describe()
        )

    def stop(self) -> None:
        """Asks `blocks()` to end soon; safe from any thread and from signal handlers."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        """Releases files and devices."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def stream_names(native: AudioFormat, mode: ChannelMode) -> tuple[str, ...]:
    """`ch0`, `ch1`... after the input channel they come from; `mix` for a downmix."""
    if mode.kind == "split":
        return tuple(f"ch{i}" for i in range(native.channels))
    if mode.kind == "select":
        return (f"ch{mode.channel}",)
    return ("ch0",) if native.channels == 1 else ("mix",)
