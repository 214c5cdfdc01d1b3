"""The development part of docs/CROSS_CORPUS.md: the weight grid, the chosen weights, the
default method, and what the IDA term does to the features (the collapse diagnosis).

Reads only development results (`training.adapt.develop`), never the table's runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.adapt.cli import DEFAULT_IDA_SOLVER, DEFAULT_METHOD
from training.adapt.develop import SOURCE_FIT_TOLERANCE, centres, summarise
from training.adapt.experiment import ROWS
from training.adapt.trainer import DEFAULT_WEIGHTS_BY_FEATURES


def arrow(task: str) -> str:
    return task.replace("->", " → ")


def development_table(rows: Sequence[dict], chosen: dict[str, float]) -> str:
    """UAR per development task, their mean and source training UAR, per row and weight."""
    stats = summarise(rows)
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    value: dict[tuple, list[float]] = {}
    for r in rows:
        value.setdefault((r["row"], float(r["weight"]), r["task"]), []).append(100 * r["ua"])
    reference = stats.get(("source-only", 0.0), {}).get("source_ua", float("nan"))
    lines = [
        "| row | weight | "
        + " | ".join(arrow(t) for t in tasks)
        + " | **mean** | source training UAR | runs | |",
        "|---" * (len(tasks) + 6) + "|",
    ]
    order = {row: i for i, row in enumerate(ROWS)}
    for (row, weight), s in sorted(stats.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        cells = [
            f"{np.mean(value[(row, weight, t)]):.1f}" if (row, weight, t) in value else "n/a"
            for t in tasks
        ]
        if row in ("source-only", "joint-batch"):
            mark = "reference" if row == "source-only" else "control"
        elif chosen.get(row) == weight:
            mark = "**chosen**"
        elif s["source_ua"] < reference - SOURCE_FIT_TOLERANCE:
            mark = "guard"
        else:
            mark = ""
        lines.append(
            f"| {row} | {weight:g} | "
            + " | ".join(cells)
            + f" | **{s['ua']:.1f}** | {s['source_ua']:.1f} | {s['runs']} | {mark} |"
        )
    return "\n".join(lines)


def centre_note(rows: Sequence[dict]) -> str:
    found = centres(rows)
    if not found:
        return ""
    listed = ", ".join(f"{row} {c:g}" for row, c in found.items())
    return f"Grid centres from the pilot (w = 1): {listed}.\n"


def best_development_row(rows: Sequence[dict], chosen: dict[str, float]) -> tuple[str, float]:
    """The row with the highest mean development UAR at its chosen weight."""
    stats = summarise(rows)
    scored = {row: stats[(row, w)]["ua"] for row, w in chosen.items() if (row, w) in stats}
    best = max(scored, key=scored.get)
    return best, scored[best]


def runners_up(rows: Sequence[dict], chosen: dict[str, float], best: str, count: int = 3) -> str:
    """The next rows by mean development UAR at their chosen weights, and how many runs
    each mean is over: how narrow the development choice is."""
    stats = summarise(rows)
    scored = {row: stats[(row, w)] for row, w in chosen.items() if (row, w) in stats}
    order = sorted((r for r in scored if r != best), key=lambda r: -scored[r]["ua"])[:count]
    if not order:
        return ""
    listed = ", ".join(f"{r} {scored[r]['ua']:.1f} %" for r in order)
    return (
        f"Next at their chosen weights: {listed} (each a mean of {scored[best]['runs']} runs: "
        "development tasks x seeds).\n"
    )


def defaults_note(rows: Sequence[dict], chosen: dict[str, float], features: str = "log-mel") -> str:
    """Whether `streamser adapt`'s default method and weights (those of input `features`)
    are the development choice."""
    weights = DEFAULT_WEIGHTS_BY_FEATURES[features]
    name = "DEFAULT_WEIGHTS" if features == "log-mel" else "ENCODER_DEFAULT_WEIGHTS"
    if not chosen:
        return "No development results: the defaults of `streamser adapt` are unchecked.\n"
    best, ua = best_development_row(rows, chosen)
    method, ida, _ = ROWS[best]
    solver = ida.get("solver", "ridge")
    text = (
        f"Highest mean development UAR at its chosen weight: **{best}** ({ua:.1f} %). "
        f"`streamser adapt` defaults to `--method {DEFAULT_METHOD}`"
        + (f" `--ida-solver {DEFAULT_IDA_SOLVER}`" if DEFAULT_METHOD in ("didan", "lidan") else "")
    )
    same = method == DEFAULT_METHOD and (
        method not in ("didan", "lidan") or solver == DEFAULT_IDA_SOLVER
    )
    text += " (that row).\n" if same else ": **this differs from the development choice**.\n"
    text += runners_up(rows, chosen, best)
    differ = [
        f"{row} {weights[ROWS[row][0]]:g} (chosen {w:g})"
        for row, w in chosen.items()
        if row == ROWS[row][0] and ROWS[row][0] in weights
        if not np.isclose(weights[ROWS[row][0]], w)
    ]
    if differ:
        text += "Default weights that differ from the development choice: " + ", ".join(differ)
        text += ".\n"
    else:
        text += f"Its default weights (`trainer.{name}`) are the development choices.\n"
    return text


def collapse_table(rows: Sequence[dict]) -> str:
    """IDA in its two readings, per weight: the term's value, the features' effective number
    of directions (participation ratio of FC2's covariance, source and target), source
    fit and development UAR. Means over development tasks and seeds."""
    wanted = ("joint-batch", "didan-absolute", "didan", "didan-sparse")
    groups: dict[tuple[str, float], list[dict]] = {}
    for r in rows:
        if r["row"] in wanted:
            groups.setdefault((r["row"], float(r["weight"])), []).append(r)
    if not any(row == "didan-absolute" for row, _ in groups):
        return ""
    lines = [
        "| row | weight | IDA term (last tenth) | directions: source | directions: target "
        "| emotion loss | source training UAR | development UAR |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (row, weight), group in sorted(
        groups.items(), key=lambda kv: (wanted.index(kv[0][0]), kv[0][1])
    ):
        align = [g["final_losses"].get("align", float("nan")) for g in group]
        lines.append(
            f"| {row} | {weight:g} | {np.mean(align):.4f} | "
            f"{np.mean([g['feature_rank']['source'] for g in group]):.1f} | "
            f"{np.mean([g['feature_rank']['target'] for g in group]):.1f} | "
            f"{np.mean([g['final_losses']['emotion'] for g in group]):.3f} | "
            f"{100 * np.mean([g['source_ua'] for g in group]):.1f} | "
            f"{100 * np.mean([g['ua'] for g in group]):.1f} |"
        )
    return "\n".join(lines)


DEMO_RANKS = (1, 4, 16, 64, 128)


def rank_demo(seed: int = 0) -> str:
    """IDA on Gaussian samples (32 + 32 rows, 128 dimensions), computed when the report is
    written: two samples of one distribution of each rank, and a target squeezed onto one
    direction of a rank-16 source. The absolute reading rewards low rank; the relative
    one scores one distribution about zero at any rank and the squeezed target high."""
    import torch

    from training.adapt.ida import ida_loss

    generator = torch.Generator().manual_seed(seed)
    basis = torch.randn(128, 128, generator=generator)

    def sample(rank: int) -> torch.Tensor:
        return torch.randn(32, rank, generator=generator) @ basis[:rank]

    cases = [(f"one distribution, rank {r}", sample(r), sample(r)) for r in DEMO_RANKS]
    cases.append(("target on one direction of a rank-16 source", sample(16), sample(1)))
    lines = [
        "| case | absolute, ridge | absolute, sparse | relative, ridge | relative, sparse |",
        "|---|---|---|---|---|",
    ]
    for name, s, t in cases:
        values = [
            float(ida_loss(s, t, solver=solver, reference=reference))
            for reference in ("absolute", "relative")
            for solver in ("ridge", "sparse")
        ]
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    return "\n".join(lines)


def reading_comparison(rows: Sequence[dict]) -> str:
    """Per weight both readings ran at: development UAR and source training UAR of the
    relative reading (`didan`) minus the absolute one (`didan-absolute`), in points."""
    stats = summarise(rows)
    pairs = sorted(w for (row, w) in stats if row == "didan" and ("didan-absolute", w) in stats)
    if not pairs:
        return ""
    listed = ", ".join(
        f"w = {w:g}: {stats[('didan', w)]['ua'] - stats[('didan-absolute', w)]['ua']:+.1f} "
        f"({stats[('didan', w)]['source_ua'] - stats[('didan-absolute', w)]['source_ua']:+.1f})"
        for w in pairs
    )
    return (
        "Relative against absolute reading (dense solver), at each weight both ran: "
        f"development UAR difference in points, source training UAR difference in "
        f"brackets: {listed}.\n"
    )
