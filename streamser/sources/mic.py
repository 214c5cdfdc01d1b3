"""The microphone through PyAudio: blocking reads in the capture thread.

The device is opened at 16 kHz when it supports that, else at its default rate,
and converted like any other input. Overflows (audio the device dropped because
we read late) are counted and replaced by silence of the same length, so stream
time stays true; they are never fatal. A read that fails for any other reason
means the device went away: the stream ends with `DeviceLostError`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from streamser.audio import AudioFormat, ChannelMode, Encoding, StreamConverter
from streamser.audio.formats import decode_samples
from streamser.constants import FRAME_MS, SAMPLE_RATE_HZ
from streamser.errors import MissingExtraError, SourceError
from streamser.sources.base import DOWNMIX, Source, stream_names

log = logging.getLogger(__name__)

PA_INPUT_OVERFLOWED = -9981
"""PortAudio's paInputOverflowed, which PyAudio raises as an OSError errno."""


class DeviceLostError(SourceError):
    """A device that was streaming stopped delivering audio (unplugged, server gone)."""


@dataclass(frozen=True)
class InputDevice:
    """Attributes:
    index: PortAudio device index.
    name: Device name.
    host_api: ALSA, PulseAudio, CoreAudio, ...
    channels: Maximum input channels.
    default_rate_hz: The device's default sample rate.
    """

    index: int
    name: str
    host_api: str
    channels: int
    default_rate_hz: int


def _pyaudio():
    try:
        import pyaudio
    except ImportError as error:
        raise MissingExtraError("the microphone", "mic", "pyaudio") from error
    return pyaudio


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """PortAudio's ALSA and JACK probes print dozens of harmless lines on start-up.

    They come from C code, so only redirecting file descriptor 2 hides them; it is
    done for the duration of PortAudio's initialisation only.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_portaudio():
    """A PyAudio instance (terminate it when done), without the start-up noise."""
    pyaudio = _pyaudio()
    with _quiet_native_stderr():
        return pyaudio.PyAudio()


def list_input_devices(audio=None) -> list[InputDevice]:
    """Every device with input channels."""
    own = audio is None
    audio = audio or open_portaudio()
    try:
        devices = []
        for index in range(audio.get_device_count()):
            info = audio.get_device_info_by_index(index)
            if int(info.get("maxInputChannels", 0)) < 1:
                continue
            host = audio.get_host_api_info_by_index(info["hostApi"])["name"]
            devices.append(
                InputDevice(
                    index=index,
                    name=str(info["name"]),
                    host_api=str(host),
                    channels=int(info["maxInputChannels"]),
                    default_rate_hz=int(info["defaultSampleRate"]),
                )
            )
        return devices
    finally:
        if own:
            audio.terminate()


def find_device(
    devices: list[InputDevice], wanted: str | int | None, default: int | None
) -> InputDevice:
    """The device by index, by name (exact, else a unique substring), or the default.

    Raises:
        SourceError: Nothing or several devices match; the message lists the inputs.
    """
    listing = "; ".join(f"{d.index}: {d.name}" for d in devices) or "none"
    if not devices:
        raise SourceError("no audio input devices found (is a sound server running?)")
    if wanted is None:
        chosen = [d for d in devices if d.index == default] or devices[:1]
        return chosen[0]
    if isinstance(wanted, int) or str(wanted).isdigit():
        index = int(wanted)
        for device in devices:
            if device.index == index:
                return device
        raise SourceError(f"no input device with index {index} (inputs: {listing})")
    text = str(wanted).lower()
    exact = [d for d in devices if d.name.lower() == text]
    matches = exact or [d for d in devices if text in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SourceError(f"no input device matches {wanted!r} (inputs: {listing})")
    names = "; ".join(f"{d.index}: {d.name}" for d in matches)
    raise SourceError(f"{wanted!r} matches several input devices ({names}); give an index")


class MicSource(Source):
    """A live input device.

    Args:
        device: Index, name or name substring; None for the default input.
        channels: Channels to record.
        channel_mode: Downmix, select or split them.
        buffer_ms: Audio per blocking read.

    Raises:
        MissingExtraError: PyAudio is not installed.
        SourceError: No such device, or it cannot be opened.
    """

    kind = "microphone"
    live = True

    def __init__(
        self,
        device: str | int | None = None,
        channels: int = 1,
        channel_mode: ChannelMode = DOWNMIX,
        buffer_ms: int = FRAME_MS,
    ) -> None:
        super().__init__()
        pyaudio = _pyaudio()
        self._audio = open_portaudio()
        try:
            try:
                default = self._audio.get_default_input_device_info()["index"]
            except OSError:
                default = None
            self.device = find_device(list_input_devices(self._audio), device, default)
            if channels > self.device.channels:
                raise SourceError(
                    f"input device {self.device.name!r} has {self.device.channels} channel(s), "
                    f"{channels} asked for"
                )
            rate = self._pick_rate(pyaudio, channels)
            self.format = AudioFormat(rate, channels, Encoding.PCM_S16)
            self._converter = StreamConverter(self.format, channel_mode, name=self.device.name)
            self._buffer_frames = max(1, rate * buffer_ms // 1000)
            try:
                self._stream = self._audio.open(
                    format=pyaudio.paInt16,
                    channels=channels,
                    rate=rate,
                    input=True,
                    input_device_index=self.device.index,
                    frames_per_buffer=self._buffer_frames,
                )
            except OSError as error:
                raise SourceError(
                    f"input device {self.device.name!r}: cannot open ({error})"
                ) from None
        except BaseException:
            self._audio.terminate()
            raise
        self.name = f"mic:{self.device.name}"
        self.stream_names = stream_names(self.format, channel_mode)
        log.info("recording from %r at %d Hz", self.device.name, rate)

    def _pick_rate(self, pyaudio, channels: int) -> int:
        for rate in (SAMPLE_RATE_HZ, self.device.default_rate_hz):
            try:
                if self._audio.is_format_supported(
                    rate,
                    input_device=self.device.index,
                    input_channels=channels,
                    input_format=pyaudio.paInt16,
                ):
                    return rate
            except ValueError:
                continue
        raise SourceError(
            f"input device {self.device.name!r} supports neither {SAMPLE_RATE_HZ} Hz nor "
            f"its default {self.device.default_rate_hz} Hz for 16-bit input"
        )

    def blocks(self) -> Iterator[list[np.ndarray]]:
        frame_bytes = self.format.bytes_per_frame
        while not self.stopped:
            try:
                data = self._stream.read(self._buffer_frames, exception_on_overflow=True)
            except OSError as error:
                if getattr(error, "errno", None) != PA_INPUT_OVERFLOWED:
                    raise DeviceLostError(
                        f"input device {self.device.name!r} stopped delivering audio ({error})"
                    ) from None
                self.overflows += 1
                data = bytes(self._buffer_frames * frame_bytes)
            yield self._converter.process(decode_samples(data, self.format))
        tail = self._converter.flush()
        if len(tail[0]):
            yield tail

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._stream.stop_stream()
            self._stream.close()
        self._audio.terminate()
