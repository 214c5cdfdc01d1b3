"""Reading a pipe, a FIFO or standard input so that a stop request ends a waiting read.

A buffered read of a pipe whose writer has gone quiet (`sleep 30 | streamser listen -`)
waits in the kernel while holding the buffer's lock: the reading thread cannot notice
a stop, closing the stream waits for the writer, and an interpreter that shuts down
around such a thread aborts. `PipeStream` reads the raw descriptor instead, calling
`os.read` only once `select` says there is something to read, and looks at its stop
flag between short waits; it holds no lock, so it can always be abandoned.
"""

from __future__ import annotations

import os
import select
import threading

from streamser.errors import SourceError

POLL_S = 0.05
"""Longest wait for data before the stop flag is looked at again."""


class ReadStopped(Exception):
    """A read was abandoned because the reader was asked to stop."""


class PipeStream:
    """An unbuffered, stoppable binary stream over a readable file descriptor.

    Args:
        fd: The descriptor: a pipe, a FIFO, a terminal, a character device.
        name: Shown in errors.
        stop: Once set, a read that is waiting for data raises `ReadStopped`.
        owned: Close the descriptor on `close()` (not for standard input).
    """

    def __init__(
        self, fd: int, name: str, stop: threading.Event | None = None, owned: bool = False
    ) -> None:
        self.name = name
        self._fd = fd
        self._stop = stop if stop is not None else threading.Event()
        self._owned = owned
        self._pollable = True

    def read(self, size: int) -> bytes:
        """Up to `size` bytes as soon as some are there; b"" at end of stream.

        Raises:
            ReadStopped: The stop flag was set while waiting.
            SourceError: The descriptor cannot be read.
        """
        while True:
            if self._stop.is_set():
                raise ReadStopped(self.name)
            if self._pollable and not self._wait_readable():
                continue
            try:
                return os.read(self._fd, size)
            except BlockingIOError:  # someone else made the descriptor non-blocking
                continue
            except OSError as error:
                raise SourceError(f"{self.name}: read failed ({error.strerror})") from None

    def _wait_readable(self) -> bool:
        try:
            ready, _, _ = select.select([self._fd], [], [], POLL_S)
        except (OSError, ValueError):  # not selectable here: fall back to a plain read
            self._pollable = False
            return True
        return bool(ready)

    def close(self) -> None:
        if self._owned and self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
