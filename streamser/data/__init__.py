"""Data that ships in the wheel: the demo recording (made by `bin/make-demo-audio`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from streamser.errors import SourceError

DEMO_AUDIO = "demo.wav"


def demo_audio_path() -> Path:
    """A short multi-utterance WAV, so `streamser listen --demo` runs without a microphone.

    Raises:
        SourceError: The file is missing from this installation.
    """
    path = Path(str(resources.files(__name__) / DEMO_AUDIO))
    if not path.is_file():
        raise SourceError(f"the demo recording {DEMO_AUDIO} is missing from this installation")
    return path
