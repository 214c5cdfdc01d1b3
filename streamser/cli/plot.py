"""`streamser plot SESSION.jsonl -o trace.png`: the dashboard's traces as a picture.

Reads the JSON Lines of `streamser listen` (a file, or - for standard input) and
draws, per stream, one row per emotion: each utterance is a bar over its time
span, as high as the class probability, in the emotion's colour (the winning
class solid, the others faint). Uncertain utterances (label withheld by the OOD
gate) are grey and hatched; dropped ones are red crosses on every row. Needs the
`plot` extra (matplotlib).

Exit codes: 0 ok, 2 usage or input error (unreadable session, no utterances,
matplotlib missing).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from streamser.cli.command import Command
from streamser.errors import MissingExtraError, StreamserError

DEFAULT_SIZE = "1280x720"
DPI = 100
COLOURS = {
    "neutral": "0.45",
    "calm": "tab:olive",
    "happy": "goldenrod",
    "angry": "tab:red",
    "sad": "tab:blue",
    "fear": "tab:purple",
    "fearful": "tab:purple",
    "disgust": "tab:green",
    "surprise": "tab:cyan",
    "surprised": "tab:cyan",
}
PALETTE = ("tab:orange", "tab:pink", "tab:brown", "tab:gray", "tab:olive")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", help="events of `streamser listen` (JSON Lines), or - for stdin")
    parser.add_argument("-o", "--output", required=True, metavar="PNG", help="picture to write")
    parser.add_argument(
        "--size",
        default=DEFAULT_SIZE,
        metavar="WxH",
        help=f"picture size in pixels (default {DEFAULT_SIZE})",
    )
    parser.add_argument(
        "--stream", action="append", metavar="NAME", help="only this stream (repeatable)"
    )
    parser.add_argument("--title", help="title above the traces (default: the session's name)")


def run(args: argparse.Namespace) -> int:
    width, height = _size(args.size)
    records = _read(args.session)
    session = read_session(records, args.session)
    if args.stream:
        missing = sorted(set(args.stream) - set(session.streams))
        if missing:
            known = ", ".join(session.streams) or "none"
            raise StreamserError(f"{args.session}: no stream {', '.join(missing)} (has: {known})")
        session.streams = {k: v for k, v in session.streams.items() if k in args.stream}
    title = args.title if args.title is not None else Path(args.session).name
    figure = draw(session, width, height, title)
    output = Path(args.output)
    try:
        figure.savefig(output, dpi=DPI, format="png")
    except OSError as error:
        raise StreamserError(f"{output}: cannot write ({error.strerror})") from None
    return 0


class Session:
    """The utterances of a session, per stream, with the classes in model order."""

    def __init__(self) -> None:
        from streamser.tui.state import TracePoint

        self.labels: list[str] = []
        self.streams: dict[str, list[TracePoint]] = {}
        self.model = ""


def read_session(records: Iterable[tuple[int, dict[str, Any]]], name: str) -> Session:
    """The `TracePoint`s of the utterance events in `records` (line number, object)."""
    from streamser.tui.state import TracePoint

    session = Session()
    for number, record in records:
        kind = record.get("type")
        if kind == "summary":
            model = record.get("model") or {}
            session.model = f"{model.get('name', '')} {str(model.get('sha256', ''))[:8]}".strip()
        if kind != "utterance":
            continue
        try:
            point = TracePoint.from_json(record)
        except (KeyError, TypeError, ValueError) as error:
            raise StreamserError(f"{name}:{number}: not an utterance event ({error})") from None
        session.streams.setdefault(str(record.get("stream") or "ch0"), []).append(point)
        for label in point.scores:
            if label not in session.labels:
                session.labels.append(label)
    if not session.streams:
        raise StreamserError(f"{name}: no utterance events (expected `streamser listen` JSONL)")
    return session


def draw(session: Session, width: int, height: int, title: str):
    """A matplotlib `Figure` (Agg canvas, no pyplot state) of the session's traces."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise MissingExtraError("streamser plot", "plot", "matplotlib") from error

    labels = session.labels or ["?"]
    streams = list(session.streams.items())
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    sub = figure.subfigures(len(streams), 1, squeeze=False)[:, 0]
    end = max((p.end for _, points in streams for p in points), default=1.0)
    for subfigure, (name, points) in zip(sub, streams, strict=True):
        axes = subfigure.subplots(len(labels), 1, sharex=True, squeeze=False)[:, 0]
        ok = sum(p.status == "ok" for p in points)
        uncertain = sum(p.status == "uncertain" for p in points)
        dropped = sum(p.status == "dropped" for p in points)
        subfigure.suptitle(
            f"{name}: {len(points)} utterances, {ok} ok, {uncertain} uncertain, {dropped} dropped",
            fontsize="medium",
        )
        for index, (ax, label) in enumerate(zip(axes, labels, strict=True)):
            _trace(ax, points, label, _colour(label, labels, index))
            ax.set_xlim(0, end * 1.01)
        axes[-1].set_xlabel("seconds from the start of the stream")
    suptitle = f"{title} · {session.model}" if session.model else title
    figure.suptitle(suptitle, fontsize="large")
    return figure


def _trace(ax, points, label: str, colour: str) -> None:
    for point in points:
        width = max(point.end - point.start, 0.05)
        if point.status == "dropped":
            ax.plot([(point.start + point.end) / 2], [0.05], "x", color="red", markersize=7)
            continue
        p = point.scores.get(label, 0.0)
        if point.status == "ok":
            alpha = 0.9 if point.label == label else 0.35
            style = {"color": colour, "alpha": alpha, "edgecolor": "white"}
        else:
            style = {"color": "0.75", "hatch": "//", "edgecolor": "0.4"}
        ax.bar(point.start, p, width, align="edge", **style)
    ax.set_ylim(0, 1)
    ax.set_yticks([0, 0.5, 1])
    ax.set_ylabel(label, rotation=0, ha="right", va="center", color=colour, fontweight="bold")
    ax.grid(axis="y", alpha=0.3)


def _colour(label: str, labels: list[str], index: int) -> str:
    return COLOURS.get(label.lower(), PALETTE[index % len(PALETTE)])


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise StreamserError(f"--size {text!r}: expected WIDTHxHEIGHT in pixels") from None
    if not (100 <= width <= 10000 and 100 <= height <= 10000):
        raise StreamserError(f"--size {text!r}: each side must be 100-10000 pixels")
    return width, height


def _read(path: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise StreamserError(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise StreamserError(f"{path}: not text (expected JSON Lines)") from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise StreamserError(f"{path}:{number}: not JSON ({error.msg})") from None
        if isinstance(record, dict):
            records.append((number, record))
    return records


COMMAND = Command(
    name="plot",
    help="draw the emotion traces of a `streamser listen` session (JSONL) as a PNG",
    configure=configure,
    run=run,
    description=__doc__,
)
