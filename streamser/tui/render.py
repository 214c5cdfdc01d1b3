"""The dashboard drawn with rich: a panel per stream and a footer, sized to the terminal.

```
╭─ ch0 ──────────────────────── 3 ok · 1 uncertain · 0 dropped ─╮
│ ● speech   level ███████████░░░░░░░░░░░░░  -23 dBFS           │
│ neutral   ▁▂ ▁                                                │   a column per utterance,
│ happy     ▇▁ ▂                                                │   newest on the right; the
│ angry     ▁▆ █                                                │   block height is the class
│ sad        ▁ ▁                                                │   probability
│           hs?xa                                               │   winner's initial, ? or x
│ last  angry 0.81  2.40 s  at 00:05.39  9 ms                   │
│   neutral ██░░░░░░░░░░░░░░░░░░ 0.10                           │
│   ...                                                         │
╰───────────────────────────────────────────────────────────────╯
 source · model · latency · RTF · drops · elapsed · keys
```

Nothing depends on colour: uncertain columns are dim and marked `?`, dropped ones
are `x`, and every row is named, so `NO_COLOR` (which rich honours) and
monochrome terminals read the same. When the full layout does not fit the
height, each panel drops its probability bars for one line of them.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from streamser.events import DROPPED, OK
from streamser.meter import FLOOR_DBFS, MeterReading
from streamser.tui.state import DashboardSnapshot, StreamSnapshot, TracePoint

BLOCKS = " ▁▂▃▄▅▆▇█"
"""Nine heights, 0 to 8 eighths."""
UNCERTAIN_MARK = "?"
DROPPED_MARK = "x"
METER_FLOOR_DBFS = -60.0
KNOWN_COLOURS = {
    "neutral": "white",
    "calm": "bright_cyan",
    "happy": "yellow",
    "angry": "red",
    "sad": "blue",
    "fear": "magenta",
    "fearful": "magenta",
    "disgust": "green",
    "surprise": "cyan",
    "surprised": "cyan",
}
PALETTE = ("bright_green", "bright_magenta", "bright_blue", "bright_yellow", "bright_red")
FOOTER_ROWS = 2
KEYS_HINT = "q quit · p pause · c clear"


def colour_of(label: str, labels: tuple[str, ...]) -> str:
    """A stable colour per emotion: a known one by name, else from a palette by position."""
    known = KNOWN_COLOURS.get(label.lower())
    if known is not None:
        return known
    index = labels.index(label) if label in labels else len(labels)
    return PALETTE[index % len(PALETTE)]


def render_dashboard(snapshot: DashboardSnapshot, width: int, height: int) -> RenderableType:
    """One frame: the stream panels, then the footer, fitted to `width` x `height`."""
    count = max(1, len(snapshot.streams))
    label_rows = max(1, len(snapshot.labels))
    full_rows = 2 * label_rows + 5  # meter, traces, marks, last, bars, two borders
    compact = count * full_rows > height - FOOTER_ROWS
    panels = [render_stream(snapshot, stream, width, compact) for stream in snapshot.streams]
    return Group(*panels, render_footer(snapshot, width))


def render_stream(
    snapshot: DashboardSnapshot, stream: StreamSnapshot, width: int, compact: bool = False
) -> Panel:
    """One stream's panel: meter, traces, the last utterance and its probabilities."""
    labels = snapshot.labels
    inner = max(10, width - 4)  # borders and padding
    name_width = min(10, max((len(label) for label in labels), default=5) + 1)
    columns = max(1, inner - name_width)
    points = stream.points[-columns:]
    rows: list[Text] = [render_meter(stream.meter, inner, snapshot.finished is not None)]
    for label in labels:
        row = Text(f"{label[: name_width - 1]:<{name_width}}", style=colour_of(label, labels))
        row.append_text(trace_row(points, label, colour_of(label, labels)))
        rows.append(row)
    marks = Text(" " * name_width)
    marks.append_text(marks_row(points, labels))
    rows.append(marks)
    rows.extend(render_last(stream.last, labels, inner, compact))
    counts = f"{stream.ok} ok · {stream.uncertain} uncertain · {stream.dropped} dropped"
    return Panel(
        Group(*rows),
        title=f"[b]{stream.name}[/b]",
        title_align="left",
        subtitle=counts,
        subtitle_align="right",
        width=width,
        padding=(0, 1),
    )


def render_meter(meter: MeterReading, width: int, finished: bool = False) -> Text:
    """VAD state and an input level bar from `METER_FLOOR_DBFS` to 0 dBFS."""
    text = Text()
    if finished:
        text.append("■ ended   ", style="dim")
    elif meter.speech:
        text.append("● speech  ", style="bold green")
    else:
        text.append("○ silence ", style="dim")
    bar_width = max(5, min(40, width - 30))
    level = max(METER_FLOOR_DBFS, meter.level_dbfs)
    filled = round(bar_width * (level - METER_FLOOR_DBFS) / -METER_FLOOR_DBFS)
    style = "red" if meter.peak_dbfs > -1.0 else "yellow" if level > -12.0 else "green"
    text.append("level ")
    text.append("█" * filled, style=style)
    text.append("░" * (bar_width - filled), style="dim")
    shown = "  -inf" if meter.level_dbfs <= FLOOR_DBFS else f"{meter.level_dbfs:6.1f}"
    text.append(f" {shown} dBFS")
    return text


def trace_row(points: tuple[TracePoint, ...], label: str, colour: str) -> Text:
    """A column per utterance: a block as high as `label`'s probability."""
    text = Text(no_wrap=True, overflow="crop")
    for point in points:
        if point.status == DROPPED or not point.scores:
            text.append(" ")
            continue
        p = min(1.0, max(0.0, point.scores.get(label, 0.0)))
        block = BLOCKS[round(p * (len(BLOCKS) - 1))]
        if point.status == OK:
            style = f"bold {colour}" if point.label == label else colour
        else:
            style = "dim"
        text.append(block, style=style)
    return text


def marks_row(points: tuple[TracePoint, ...], labels: tuple[str, ...]) -> Text:
    """Under each column: the winner's initial, `?` for uncertain, `x` for dropped."""
    text = Text(no_wrap=True, overflow="crop")
    for point in points:
        if point.status == DROPPED:
            text.append(DROPPED_MARK, style="bold red")
        elif point.status == OK and point.label:
            text.append(point.label[0], style=colour_of(point.label, labels))
        else:
            text.append(UNCERTAIN_MARK, style="bold magenta")
    return text


def render_last(
    point: TracePoint | None, labels: tuple[str, ...], width: int, compact: bool
) -> list[Text]:
    """The last utterance's line, then a bar per class (one line of them if compact)."""
    head = Text("last  ", style="bold")
    if point is None:
        head.append("waiting for speech…", style="dim")
        return [head] if compact else [head] + [Text() for _ in labels]
    if point.status == DROPPED:
        head.append(f"{DROPPED_MARK} dropped ({point.reason or '?'})", style="bold red")
    elif point.status == OK and point.label:
        head.append(point.label, style=f"bold {colour_of(point.label, labels)}")
        head.append(f" {point.confidence or 0.0:.2f}")
    else:
        top = point.top or "-"
        head.append(f"{UNCERTAIN_MARK} uncertain", style="bold magenta")
        head.append(f" (top {top} {point.confidence or 0.0:.2f})")
    head.append(f"  {point.duration_s:.2f} s  at {_clock(point.start)}")
    if point.status != DROPPED:
        head.append(f"  {point.latency_ms:.0f} ms", style="dim")
    if compact and point.status != DROPPED:
        head.append("  ")
        for label in labels:
            p = point.scores.get(label, 0.0)
            head.append(f"{label[:3]} ", style=colour_of(label, labels))
            head.append(BLOCKS[round(p * 8)] + " ", style=colour_of(label, labels))
    if compact:
        head.truncate(width, overflow="ellipsis")
        return [head]
    name_width = min(10, max((len(label) for label in labels), default=5) + 1)
    bar_width = max(5, min(40, width - name_width - 8))
    bars = []
    for label in labels:
        p = min(1.0, max(0.0, point.scores.get(label, 0.0)))
        filled = round(p * bar_width)
        colour = colour_of(label, labels)
        line = Text(f"  {label[: name_width - 1]:<{name_width}}", style=colour)
        line.append("█" * filled, style=colour)
        line.append("░" * (bar_width - filled), style="dim")
        line.append(f" {p:.2f}")
        bars.append(line)
    return [head, *bars]


def render_footer(snapshot: DashboardSnapshot, width: int) -> Text:
    """Source, model, latency and real-time factor; drops, elapsed time and the keys."""
    source = Path(snapshot.source).name if snapshot.source else "-"
    name, sha = snapshot.model
    latency = (
        f"p50 {snapshot.latency_p50_ms:.0f} ms p95 {snapshot.latency_p95_ms:.0f} ms"
        if snapshot.latency_p50_ms is not None and snapshot.latency_p95_ms is not None
        else "-"
    )
    rtf = "-" if snapshot.realtime_factor is None else f"{snapshot.realtime_factor:.3f}"
    first = Text(no_wrap=True, overflow="ellipsis")
    first.append(f" {source}", style="bold")
    first.append(f" · {name or 'model'} {sha[:8]}")
    first.append(f" · latency {latency} · RTF {rtf}")
    second = Text(no_wrap=True, overflow="ellipsis")
    second.append(f" dropped {snapshot.overflows} frames {snapshot.dropped} utt")
    second.append(f" · {_clock(snapshot.elapsed_s)}")
    if snapshot.finished is not None:
        second.append(f" · {snapshot.finished}", style="bold")
    elif snapshot.paused:
        second.append(" · PAUSED", style="bold reverse")
    second.append(f" · {KEYS_HINT}", style="dim")
    if snapshot.errors:
        second.append(f" · error: {snapshot.errors[-1]}", style="bold red")
    first.truncate(width, overflow="ellipsis")
    second.truncate(width, overflow="ellipsis")
    return Text("\n").join([first, second])


def _clock(seconds: float) -> str:
    minutes, rest = divmod(max(0.0, seconds), 60.0)
    return f"{int(minutes):02d}:{rest:05.2f}"
