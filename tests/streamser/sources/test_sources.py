"""Sources without hardware: device matching, pacing, push buffers, stream names."""

import io
import time

import numpy as np
import pytest
from support.audio import sine, wav_bytes

from streamser.audio import AudioFormat, ChannelMode, Encoding
from streamser.errors import SourceError
from streamser.sources import FileSource, PushSource, Source
from streamser.sources.base import stream_names
from streamser.sources.mic import InputDevice, find_device

DEVICES = [
    InputDevice(0, "HDA Intel PCH: ALC3246 Analog", "ALSA", 2, 44100),
    InputDevice(3, "USB Headset Mic", "ALSA", 1, 48000),
    InputDevice(4, "pulse", "ALSA", 32, 44100),
    InputDevice(5, "default", "ALSA", 32, 44100),
]


def test_find_device_by_index_name_or_substring():
    assert find_device(DEVICES, "3", default=5).index == 3
    assert find_device(DEVICES, 4, default=5).name == "pulse"
    assert find_device(DEVICES, "usb", default=5).index == 3
    assert find_device(DEVICES, "DEFAULT", default=5).index == 5
    assert find_device(DEVICES, None, default=5).index == 5
    assert find_device(DEVICES, None, default=None).index == 0


def test_find_device_errors_list_the_inputs():
    with pytest.raises(SourceError, match="no input device matches 'webcam' \\(inputs: 0: HDA"):
        find_device(DEVICES, "webcam", default=None)
    with pytest.raises(SourceError, match="no input device with index 7"):
        find_device(DEVICES, "7", default=None)
    with pytest.raises(SourceError, match="'a' matches several input devices"):
        find_device(DEVICES, "a", default=None)
    with pytest.raises(SourceError, match="no audio input devices found"):
        find_device([], None, default=None)


def test_stream_names_follow_the_channels():
    stereo = AudioFormat(8000, 2, Encoding.MULAW)
    assert stream_names(stereo, ChannelMode("split")) == ("ch0", "ch1")
    assert stream_names(stereo, ChannelMode("select", 1)) == ("ch1",)
    assert stream_names(stereo, ChannelMode()) == ("mix",)
    assert stream_names(AudioFormat(16000, 1, Encoding.PCM_S16), ChannelMode()) == ("ch0",)


def test_a_realtime_file_is_paced_and_live():
    data = wav_bytes(sine(200, 0.3, 16000), 16000)
    fast = FileSource(io.BytesIO(data))
    assert not fast.live and sum(len(b[0]) for b in fast.blocks()) == 4800
    paced = FileSource(io.BytesIO(data), realtime=True)
    began = time.monotonic()
    assert paced.live and sum(len(b[0]) for b in paced.blocks()) == 4800
    assert time.monotonic() - began >= 0.27


def test_a_live_push_source_counts_overflows_instead_of_blocking():
    source = PushSource(live=True, max_blocks=2)
    for _ in range(5):
        source.push(np.zeros(160, dtype=np.int16))
    assert source.overflows == 3


def test_push_source_converts_mulaw_bytes_at_8khz():
    source = PushSource(AudioFormat(8000, 1, Encoding.MULAW), live=False)
    source.push(b"\xff" * 800)  # mu-law silence, 0.1 s
    source.end()
    blocks = list(source.blocks())
    assert sum(len(b[0]) for b in blocks) == 1600
    with pytest.raises(ValueError, match="int16 or float"):
        source.push(np.zeros(10, dtype=np.int32))


class FlakyStream:
    """A PyAudio stream stand-in: one overflow, one good read, then the device is gone."""

    def __init__(self, frames: int) -> None:
        self.answers = [OSError(-9981, "Input overflowed"), b"\x01\x00" * frames]
        self.answers.append(OSError(-9999, "Unanticipated host error"))

    def read(self, frames, exception_on_overflow):
        assert exception_on_overflow  # overflows must be seen to be counted
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_mic_counts_overflows_as_silence_and_reports_a_lost_device():
    from streamser.audio import StreamConverter
    from streamser.sources.mic import DeviceLostError, MicSource

    source = MicSource.__new__(MicSource)  # no PortAudio: the reading logic alone
    Source.__init__(source)
    source.device = DEVICES[1]
    source.format = AudioFormat(16000, 1, Encoding.PCM_S16)
    source._converter = StreamConverter(source.format)
    source._buffer_frames = 480
    source._stream = FlakyStream(480)
    blocks = source.blocks()
    assert not next(blocks)[0].any() and source.overflows == 1  # silence keeps time
    assert next(blocks)[0].tolist() == [1] * 480
    with pytest.raises(DeviceLostError, match="'USB Headset Mic' stopped delivering audio"):
        next(blocks)
