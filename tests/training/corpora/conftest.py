"""Fixture trees for the corpus loaders: real layouts and names, tiny WAV files."""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path

import pytest


def write_wav(path: Path) -> Path:
    """Write a valid 10 ms, 16 kHz mono WAV at `path` (loaders never decode it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 160)
    return path


@pytest.fixture
def make_wav() -> Callable[[Path], Path]:
    """`make_wav(path)` writes a tiny WAV file, creating its folders."""
    return write_wav
