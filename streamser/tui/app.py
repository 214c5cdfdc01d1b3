"""The dashboard as an event sink: events in, a rich `Live` display out, at its own pace.

```
consumer thread:  Run.events() -> TuiSink.emit -> DashboardState.apply   (microseconds, one lock)
render thread:    every 1/refresh_hz s: snapshot + Run.meters() -> render -> Live.refresh
key thread:       q -> stop (the Ctrl-C path), p -> pause, c -> clear
```

The UI never slows capture or inference: `emit` only updates plain data, and the
drawing happens in the render thread, which renders whatever the latest state
is when it wakes. A slow terminal therefore costs display frames, never events:
a frame that takes longer than the period delays the next one, and states in
between are simply never drawn. Meters are polled from `Run.meters()`, which
reads the capture thread's published snapshot without waiting for it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import TextIO

from rich.console import Console
from rich.live import Live

from streamser.events import Event, SummaryEvent
from streamser.meter import MeterReading
from streamser.sinks import format_text
from streamser.tui.keys import KeyReader
from streamser.tui.render import render_dashboard
from streamser.tui.state import DashboardState

REFRESH_HZ = 12.0
"""Frames per second while capturing (the meters need at least 10)."""


class TuiSink:
    """Shows a run's events as a live dashboard; an `EventSink`.

    Args:
        state: The dashboard's data, with the model's labels and the stream names.
        meters: Returns the streams' latest input readings (`Run.meters`); never blocks.
        on_quit: Called from the key thread when `q` is pressed (`Run.stop`).
        console: Where to draw; a terminal console on standard output by default.
        refresh_hz: Frames per second.
        keys: Read `q`/`p`/`c` from the terminal.
    """

    def __init__(
        self,
        state: DashboardState,
        meters: Callable[[], Mapping[str, MeterReading]] = dict,
        on_quit: Callable[[], None] | None = None,
        console: Console | None = None,
        refresh_hz: float = REFRESH_HZ,
        keys: bool = True,
    ) -> None:
        self.state = state
        self.console = console or Console()
        self.frames = 0
        self._meters = meters
        self._on_quit = on_quit
        self._period = 1.0 / refresh_hz
        self._lock = threading.Lock()
        self._paused = False
        self._began = time.monotonic()
        self._stop = threading.Event()
        self._summary: SummaryEvent | None = None
        self._keys = KeyReader(self._key) if keys else None
        self._live = Live(
            console=self.console,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
            vertical_overflow="crop",
        )
        self._thread = threading.Thread(target=self._loop, name="streamser-tui", daemon=True)
        self._started = False
        self._closed = False

    def start(self) -> TuiSink:
        """Shows the dashboard and starts the render and key threads."""
        self._began = time.monotonic()
        self._live.start()
        self._started = True
        self._draw()
        self._thread.start()
        if self._keys is not None:
            self._keys.start()
        return self

    def emit(self, event: Event) -> None:
        with self._lock:
            self.state.apply(event)
        if isinstance(event, SummaryEvent):
            self._summary = event

    def close(self) -> None:
        """Draws the final frame, restores the terminal and prints the summary line."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        try:
            if self._thread.is_alive():
                self._thread.join(1.0)
            if self._started:
                self._paused = False
                self._draw()
                self._live.stop()
        finally:
            if self._keys is not None:
                self._keys.stop()
        if self._summary is not None:
            line = format_text(self._summary)
            if line:
                self.console.print(line, highlight=False, markup=False)

    def __enter__(self) -> TuiSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- keys (key thread) ----------------------------------------------

    def _key(self, key: str) -> None:
        key = key.lower()
        if key == "q":
            if self._on_quit is not None:
                self._on_quit()
        elif key == "p":
            self._paused = not self._paused
            if self._paused:
                self._draw(force=True)  # once, to show that it is paused
        elif key == "c":
            with self._lock:
                self.state.clear()

    # --- render thread --------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(self._period):
            with contextlib.suppress(Exception):  # a bad frame must not end the display
                self._draw()

    def _draw(self, force: bool = False) -> None:
        if self._paused and not force:
            return
        meters = self._meters()
        elapsed = time.monotonic() - self._began
        with self._lock:
            snapshot = self.state.snapshot(meters, elapsed, self._paused)
        width, height = self.console.size
        self._live.update(render_dashboard(snapshot, width, height), refresh=True)
        self.frames += 1


def terminal_console(stream: TextIO | None = None) -> Console:
    """A console for the dashboard; rich honours `NO_COLOR` and `TERM=dumb` itself."""
    return Console(file=stream, highlight=False)
