"""Single key presses from the terminal, read in cbreak mode by a daemon thread.

cbreak mode delivers keys one at a time without echo and keeps signals, so
Ctrl-C still reaches the CLI's handler. The terminal's settings are restored by
`stop()`, which the dashboard calls in a `finally`, and by an `atexit` hook as a
last resort. When standard input carries the audio (`streamser listen -`), keys
come from the controlling terminal (`/dev/tty`); with no terminal at all the
reader does nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import select
import sys
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

POLL_S = 0.1


class KeyReader:
    """Calls `on_key` with each key typed, from its own daemon thread.

    Args:
        on_key: Receives one character; it runs in the reader's thread, so it
            must only set flags or call thread-safe methods such as `Run.stop()`.
    """

    def __init__(self, on_key: Callable[[str], None]) -> None:
        self._on_key = on_key
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._owned = False
        self._saved: list | None = None

    def start(self) -> bool:
        """Enters cbreak mode and starts reading; False (and no thread) without a terminal."""
        try:
            import termios
            import tty
        except ImportError:  # not a POSIX terminal
            return False
        fd, owned = _terminal_fd()
        if fd is None:
            return False
        try:
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd, termios.TCSANOW)
        except termios.error as error:
            log.debug("no key input: %s", error)
            if owned:
                os.close(fd)
            return False
        self._fd, self._owned = fd, owned
        atexit.register(self.stop)
        self._thread = threading.Thread(target=self._read, name="streamser-keys", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        """Stops reading and restores the terminal; idempotent."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(POLL_S * 5)
        fd, saved = self._fd, self._saved
        self._fd = self._saved = None
        if fd is None:
            return
        import termios

        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        if self._owned:
            with contextlib.suppress(OSError):
                os.close(fd)
        atexit.unregister(self.stop)

    def _read(self) -> None:
        fd = self._fd
        while not self._stop.is_set() and fd is not None:
            try:
                ready, _, _ = select.select([fd], [], [], POLL_S)
                if not ready:
                    continue
                data = os.read(fd, 32)
            except (OSError, ValueError):
                return  # the terminal went away
            if not data:
                return
            for key in data.decode("utf-8", errors="ignore"):
                self._on_key(key)


def _terminal_fd() -> tuple[int | None, bool]:
    """Standard input when it is a terminal, else the controlling terminal, else None."""
    try:
        if sys.stdin is not None and sys.stdin.isatty():
            return sys.stdin.fileno(), False
    except (ValueError, OSError):
        pass
    try:
        return os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY), True
    except OSError:
        return None, False
