"""The dashboard sink: events in, frames out at its own rate, keys, the closing summary."""

import io
import threading

from rich.console import Console

from streamser.events import StreamCounts, SummaryEvent
from streamser.meter import MeterReading
from streamser.tui.app import TuiSink, terminal_console
from streamser.tui.state import DashboardState

from .test_state import LABELS, utterance


def sink_for(on_quit=None):
    out = io.StringIO()
    console = Console(file=out, width=80, height=24, force_terminal=True, color_system=None)
    meters = {"ch0": MeterReading(-30.0, -20.0, True, 3.0)}
    state = DashboardState(LABELS, ("ch0",), source="demo.wav", model=("m", "abc"))
    sink = TuiSink(state, lambda: meters, on_quit, console=console, refresh_hz=50, keys=False)
    return sink, out


def test_draws_frames_while_events_flow_and_prints_the_summary_once_closed():
    sink, out = sink_for()
    with sink:
        for seq in range(3):
            sink.emit(utterance(seq))
        while sink.frames < 5:
            threading.Event().wait(0.02)
        summary = SummaryEvent(
            status="completed", source="demo.wav", streams={"ch0": StreamCounts(3.0, 3, 3)}
        )
        sink.emit(summary)
    text = out.getvalue()
    assert "● speech" in text and "angry" in text
    assert "■ ended" in text  # the final frame
    assert text.rstrip().endswith("3.0 s of audio")  # the summary comes last
    assert "summary (completed): 3 utterances" in text


def test_keys_quit_pause_and_clear():
    quits = []
    sink, _ = sink_for(on_quit=lambda: quits.append(True))
    with sink:
        sink.emit(utterance(0))
        sink._key("p")
        paused_at = sink.frames
        threading.Event().wait(0.2)
        assert sink.frames == paused_at  # nothing drawn while paused
        sink._key("P")
        sink._key("c")
        assert sink.state.snapshot().streams[0].points == ()
        sink._key("q")
    assert quits == [True]


def test_no_color_from_the_environment_is_honoured(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert terminal_console(io.StringIO()).no_color
