"""Forward-only reading of a byte stream that knows its offset, for error messages."""

from __future__ import annotations

from typing import Protocol

from streamser.errors import AudioFormatError


class Readable(Protocol):
    """What a cursor reads from: a binary file, a pipe, a socket file, BytesIO."""

    def read(self, size: int, /) -> bytes: ...


class Closable(Protocol):
    def close(self) -> None: ...


class ByteCursor:
    """Reads a binary stream forward, counting bytes, without ever seeking.

    Works the same on files, pipes and sockets. `unread` bytes (from sniffing the
    format) are served before the stream.
    """

    def __init__(self, stream: Readable, name: str, unread: bytes = b"") -> None:
        self._stream = stream
        self._pending = unread
        self.name = name
        self.offset = 0

    def read(self, size: int) -> bytes:
        """Up to `size` bytes; fewer only at end of stream."""
        parts = []
        if self._pending:
            parts.append(self._pending[:size])
            self._pending = self._pending[size:]
        missing = size - sum(len(p) for p in parts)
        while missing > 0:
            chunk = self._stream.read(missing)
            if not chunk:
                break
            parts.append(chunk)
            missing -= len(chunk)
        data = b"".join(parts)
        self.offset += len(data)
        return data

    def read_exact(self, size: int, what: str) -> bytes:
        """Exactly `size` bytes, or an error that says what was being read."""
        start = self.offset
        data = self.read(size)
        if len(data) < size:
            raise self.error(start, f"stream ends after {len(data)} of the {size} bytes of {what}")
        return data

    def error(self, offset: int, message: str) -> AudioFormatError:
        return AudioFormatError(f"{self.name}: byte {offset}: {message}")
