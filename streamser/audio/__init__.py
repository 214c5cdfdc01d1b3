"""The audio layer: decode any supported input and convert it to the canonical stream.

Shared by the runtime (sources) and by training (corpus loading), so both halves
hear exactly the same samples.
"""

from streamser.audio.convert import ChannelMode, StreamConverter, load_canonical, load_mono
from streamser.audio.formats import AudioFormat, Encoding
from streamser.audio.reader import AudioReader, open_audio

__all__ = [
    "AudioFormat",
    "AudioReader",
    "ChannelMode",
    "Encoding",
    "StreamConverter",
    "load_canonical",
    "load_mono",
    "open_audio",
]
