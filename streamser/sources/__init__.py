"""Audio sources: files and pipes, the microphone, and PCM pushed by another program."""

from streamser.sources.base import Source
from streamser.sources.file import FileSource
from streamser.sources.push import PushSource

__all__ = ["FileSource", "PushSource", "Source"]
