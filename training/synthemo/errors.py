"""SynthEmo's errors: user and set-up problems are `StreamserError`s (exit code 2)."""

from __future__ import annotations

from streamser.errors import StreamserError


class SynthOptionsError(StreamserError):
    """Arguments that do not describe a corpus SynthEmo can make."""


class EngineMissingError(StreamserError):
    """A TTS engine, voice or sox is not installed; the message names the Debian package."""


class CorpusDirError(StreamserError):
    """An output or report directory that does not hold what is needed."""


class SynthesisError(RuntimeError):
    """An installed engine failed on an utterance: a bug or a broken install, not user input."""
