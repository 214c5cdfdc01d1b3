"""rich rendering for `streamser synth`: the progress bar and the report tables."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from training.synthemo.report import Report


@contextmanager
def progress_bar(console: Console, what: str) -> Iterator[Callable[[int, int], None]]:
    """A bar that the generator and the analyser drive with (done, total)."""
    with Progress(
        TextColumn(f"[bold]{what}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def _fmt(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else format(value, spec)


def print_report(report: Report, console: Console) -> None:
    """One table per corpus, language and condition, then the direction checks."""
    groups = sorted({(c.corpus, c.language, c.condition) for c in report.classes})
    for group in groups:
        corpus, language, condition = group
        table = Table(title=f"{corpus} {language} ({condition})", title_justify="left")
        for header in (
            "emotion",
            "n",
            "F0 Hz",
            "ΔF0 st",
            "range st",
            "rate",
            "onset/s",
            "dBFS",
            "ΔdB",
        ):
            table.add_column(header, justify="left" if header == "emotion" else "right")
        for c in report.classes:
            if (c.corpus, c.language, c.condition) != group:
                continue
            table.add_row(
                c.emotion,
                str(c.count),
                _fmt(c.f0_hz, ".1f"),
                _fmt(c.delta_f0_st, "+.2f"),
                _fmt(c.f0_range_st, ".2f"),
                _fmt(c.rate_ratio, ".2f"),
                _fmt(c.onsets_per_s, ".2f"),
                _fmt(c.level_db, ".1f"),
                _fmt(c.delta_level_db, "+.1f"),
            )
        console.print(table)
    failed = report.failed
    total = len(report.checks)
    colour = "green" if not failed else "red"
    console.print(
        f"[{colour}]direction checks: {total - len(failed)}/{total} as the rules intend[/]"
        " (ΔF0, rate and Δlevel are relative to the neutral rendering of the same"
        " speaker and sentence)"
    )
    for check in failed:
        console.print(
            f"[red]  not shown: {check.corpus} {check.language} ({check.condition}): "
            f"{check.expectation}"
            f" (measured {check.value:+.2f})[/]"
        )
