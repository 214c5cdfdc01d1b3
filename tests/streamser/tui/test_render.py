"""The dashboard drawn at fixed sizes: everything fits, nothing depends on colour."""

import io
import re

import pytest
from rich.console import Console

from streamser.meter import MeterReading
from streamser.tui.render import render_dashboard
from streamser.tui.state import DashboardState

from .test_state import LABELS, utterance

ANSI = re.compile(r"\x1b\[[0-9;]*m")
COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-9]|9[0-7])[;m]")


def dashboard(streams=("ch0",), utterances=29) -> DashboardState:
    state = DashboardState(LABELS, streams, source="calls/agent.wav", model=("default", "0123abcd"))
    statuses = ["ok", "ok", "uncertain", "ok", "dropped"]
    for stream in streams:
        for seq in range(utterances):
            top = LABELS[seq % len(LABELS)]
            state.apply(utterance(seq, statuses[seq % len(statuses)], stream=stream, top=top))
    return state


def draw(state, width, height, color=True, speech=True) -> str:
    names = [stream.name for stream in state.snapshot().streams]
    meters = {name: MeterReading(-18.0, -6.0, speech, 42.0) for name in names}
    snapshot = state.snapshot(meters, elapsed_s=43.5)
    out = io.StringIO()
    console = Console(
        file=out,
        width=width,
        height=height,
        force_terminal=True,
        color_system="truecolor" if color else None,
        no_color=not color,
        legacy_windows=False,
    )
    console.print(render_dashboard(snapshot, width, height))
    return out.getvalue()


@pytest.mark.parametrize(("width", "height"), [(80, 24), (160, 48)])
@pytest.mark.parametrize("streams", [("ch0",), ("ch0", "ch1")])
def test_fits_the_terminal_and_shows_every_part(width, height, streams):
    text = ANSI.sub("", draw(dashboard(streams), width, height))
    lines = text.rstrip("\n").split("\n")
    assert len(lines) <= height
    assert all(len(line) <= width for line in lines)
    for name in streams:
        assert f"─ {name} " in text
    for label in LABELS:
        assert label in text
    assert "● speech" in text and "-18.0 dBFS" in text
    assert "?" in text.split("sad")[1]  # uncertain utterances are marked
    assert "x" in text.split("sad")[1]  # and dropped ones
    assert "agent.wav" in text and "default 0123abcd" in text
    assert "p50 10 ms p95 10 ms" in text
    assert f"dropped 0 frames {5 * len(streams)} utt" in text and "00:43.50" in text
    assert "q quit" in text


def test_full_layout_has_a_probability_bar_per_class():
    text = ANSI.sub("", draw(dashboard(), 80, 24))
    bars = [line for line in text.split("\n") if "█" in line and re.search(r"\d\.\d\d *│$", line)]
    assert len(bars) == len(LABELS)


def test_trace_columns_follow_the_utterances_newest_last():
    state = DashboardState(LABELS, ("ch0",))
    for seq, status in enumerate(["ok", "uncertain", "dropped"]):
        state.apply(utterance(seq, status, top="happy"))
    text = ANSI.sub("", draw(state, 80, 24))
    marks = next(line for line in text.split("\n") if "h?x" in line)
    assert marks.strip("│ ") == "h?x"
    happy = next(line for line in text.split("\n") if line.startswith("│ happy"))
    assert "▆▆ " in happy  # 0.7 of eight eighths; nothing for the dropped one


def test_no_color_means_no_colour_codes():
    coloured = draw(dashboard(), 80, 24, color=True)
    plain = draw(dashboard(), 80, 24, color=False)
    assert COLOUR.search(coloured)
    assert not COLOUR.search(plain)
    assert ANSI.sub("", plain) == ANSI.sub("", coloured)


def test_empty_dashboard_waits_for_speech():
    text = ANSI.sub("", draw(DashboardState(LABELS, ("ch0",)), 80, 24, speech=False))
    assert "waiting for speech" in text and "○ silence" in text
