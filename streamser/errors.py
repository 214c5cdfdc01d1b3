"""The exceptions streamser raises on purpose.

The CLI turns every `StreamserError` into one line on stderr and exit code 2, so
their messages must name the input and the problem without a traceback's help.
"""


class StreamserError(Exception):
    """Base of every error that is the user's input or set-up, not a bug."""


class AudioFormatError(StreamserError):
    """Audio bytes that cannot be decoded: bad header, unsupported encoding, truncation."""


class SourceError(StreamserError):
    """An audio source that cannot be opened or that failed while being read."""


class ModelError(StreamserError):
    """A model file that is missing, unreadable or lacks the metadata the runtime needs."""


class MissingExtraError(StreamserError):
    """An optional dependency group is needed for what was asked."""

    def __init__(self, what: str, extra: str, module: str) -> None:
        super().__init__(
            f"{what} needs the '{extra}' extra ({module} is not installed): "
            f"pip install 'streamser[{extra}]'"
        )
        self.extra = extra
