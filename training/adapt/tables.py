"""The result tables of docs/CROSS_CORPUS.md, for either input's runs: UAR per row and
task, the paired bootstrap against source-only, the two goals and seed agreement."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.adapt.development_report import arrow
from training.adapt.diagnostics import agreement
from training.adapt.tasks import CLASSES, TABLE_TASKS
from training.adapt.verdict import GOAL_DIDAN_GAP, GOAL_GAIN, HEADLINE, by_key, mean_ua, paired


def cell(values: Sequence[float], seeds: int) -> str:
    if not values:
        return "n/a"
    text = f"{np.mean(values):.1f} ± {np.std(values):.1f}"
    return text if len(values) == seeds else f"{text} ({len(values)} of {seeds} seeds)"


def results_table(table: Sequence[dict], rows: Sequence[str], seeds: int) -> str:
    data = by_key(table)
    labelled = [t.name for t in TABLE_TASKS if t.labelled]
    unlabelled = [t.name for t in TABLE_TASKS if not t.labelled]
    head = ["row", "weight"] + [f"{arrow(t)} UAR" for t in labelled]
    for t in unlabelled:
        head += [f"{arrow(t)}: neutral", "uncertain", "neutral or uncertain"]
    head.append("source training UAR")
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for row in rows:
        runs = [r for (task, name), seeds_ in data.items() if name == row for r in seeds_.values()]
        if not runs:
            continue
        weight = runs[0]["weight"]
        cells = [row, f"{weight:g}"]
        for task in labelled:
            cells.append(cell([100 * r["ua"] for r in data.get((task, row), {}).values()], seeds))
        for task in unlabelled:
            got = list(data.get((task, row), {}).values())
            for key in ("neutral", "uncertain", "neutral_or_uncertain"):
                cells.append(cell([100 * r[key] for r in got], seeds))
        cells.append(f"{100 * np.mean([r['source_ua'] for r in runs]):.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def significance_table(table: Sequence[dict], rows: Sequence[str]) -> str:
    tasks = [t.name for t in TABLE_TASKS if t.labelled]
    lines = [
        "| row | " + " | ".join(f"{arrow(t)}: difference (95 % interval), p" for t in tasks) + " |",
        "|---" * (len(tasks) + 1) + "|",
    ]
    for row in rows:
        if row == "source-only":
            continue
        cells = []
        for task in tasks:
            d = paired(table, task, row, "source-only")
            cells.append(
                "n/a"
                if d is None
                else f"{d.difference:+.1f} ({d.low:+.1f} to {d.high:+.1f}), p = {d.p_value:.3f}"
            )
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goals(table: Sequence[dict], rows: Sequence[str]) -> str:
    """The two targets, judged from the table (means over the seeds run)."""
    reference, n = mean_ua(table, HEADLINE, "source-only")
    aligned = [
        r
        for r in rows
        if r not in ("source-only", "joint-batch") and mean_ua(table, HEADLINE, r)[1]
    ]
    if not n or not aligned:
        return "The table has not been run yet.\n"
    scores = {r: mean_ua(table, HEADLINE, r)[0] for r in aligned}
    best = max(scores, key=scores.get)
    gain = scores[best] - reference
    verdict = "met" if gain >= GOAL_GAIN else "**not met**"
    lines = [
        f"- Best row on {arrow(HEADLINE)}: **{best}**, {scores[best]:.1f} % against source-only's "
        f"{reference:.1f} % ({gain:+.1f} points, mean of {n} seeds). Goal of "
        f"+{GOAL_GAIN:g} points: {verdict}."
    ]
    d = paired(table, HEADLINE, best, "source-only")
    if d is not None:
        lines.append(
            f"  Paired bootstrap: {d.difference:+.1f} points (95 % interval {d.low:+.1f} to "
            f"{d.high:+.1f}), p = {d.p_value:.3f}."
        )
    didan = {r: s for r, s in scores.items() if r in ("didan", "didan-sparse")}
    if didan:
        top = max(didan, key=didan.get)
        gap = scores[best] - didan[top]
        ok = "within" if gap <= GOAL_DIDAN_GAP else "**not within**"
        lines.append(
            f"- DIDAN's better reconstruction ({top}) is {gap:.1f} points below the best: {ok} "
            f"the {GOAL_DIDAN_GAP:g} points aimed for."
        )
    return "\n".join(lines) + "\n"


def seed_agreement(table: Sequence[dict], task: str, rows: Sequence[str]) -> str:
    """Mean pairwise agreement between seeds of each row on an unlabelled task."""
    data = by_key(table)
    parts = []
    for row in rows:
        runs = [np.eye(len(CLASSES))[r["predicted"]] for r in data.get((task, row), {}).values()]
        pairs = [agreement(a, b) for i, a in enumerate(runs) for b in runs[i + 1 :]]
        if pairs:
            parts.append(f"{row} {100 * np.mean(pairs):.0f} %")
    return ", ".join(parts)
