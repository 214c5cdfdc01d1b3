"""The development grid in docs/CROSS_CORPUS.md: its table, and notes on the chosen weights.

Reads only development results (`training.adapt.develop`), never the table's runs.
"""

from __future__ import annotations

import numpy as np

from training.adapt.develop import (
    CONTROL,
    SOURCE_FIT_TOLERANCE,
    choose_weights,
    grid_weights,
    same_weight,
    summarise,
)
from training.adapt.trainer import DEFAULT_WEIGHTS, AdaptConfig


def development_table(rows: list[dict]) -> str:
    """UAR on each development target, their mean, and source training UAR per method and
    weight; the chosen weights are marked."""
    stats = summarise(rows)
    chosen = choose_weights(rows)
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    value: dict[tuple, list[float]] = {}
    for r in rows:
        value.setdefault((r["method"], float(r["weight"]), r["task"]), []).append(100 * r["ua"])
    reference = stats.get(("source-only", 0.0), {}).get("source_ua", float("nan"))
    lines = [
        "| method | weight | "
        + " | ".join(t.replace("->", " → ") for t in tasks)
        + " | **mean** | source training UAR (%) | chosen |",
        "|---" * (len(tasks) + 5) + "|",
    ]
    for (method, weight), s in stats.items():
        cells = [f"{np.mean(value[(method, weight, t)]):.1f}" for t in tasks]
        if method == "source-only":
            mark = "reference"
        elif (method, weight) == CONTROL:
            mark = "control"
        elif same_weight(chosen.get(method, -1.0), weight):
            mark = "**chosen**"
        elif s["source_ua"] < reference - SOURCE_FIT_TOLERANCE:
            mark = "guard"
        else:
            mark = ""
        lines.append(
            f"| {method} | {weight:g} | "
            + " | ".join(cells)
            + f" | **{s['ua']:.1f}** | {s['source_ua']:.1f} | {mark} |"
        )
    return "\n".join(lines)


def agreement_note(development: list[dict] | None) -> str:
    """Whether DEFAULT_WEIGHTS are what the development rule picks from `development`."""
    if not development:
        return " (no development results found to check them against)"
    chosen = choose_weights(development)
    differ = [
        f"{m} {DEFAULT_WEIGHTS[m]:g} (the rule picks {w:g})"
        for m, w in chosen.items()
        if not same_weight(DEFAULT_WEIGHTS[m], w)
    ]
    if differ:
        return " **These differ from the development choice**: " + ", ".join(differ) + "."
    return " These are the development rule's picks (checked when this file was written)."


def development_notes(development: list[dict] | None) -> str:
    """Chosen weights against source-only on the development tasks, and choices at a grid edge."""
    if not development:
        return ""
    stats = summarise(development)
    reference = stats.get(("source-only", 0.0))
    chosen = choose_weights(development)
    if reference is None or not chosen:
        return ""
    below = [
        f"{m} ({stats[(m, w)]['ua']:.1f} % at w = {w:g})"
        for m, w in chosen.items()
        if stats[(m, w)]["ua"] <= reference["ua"]
    ]
    text = f"Source-only reaches {reference['ua']:.1f} % on the development targets. "
    if below:
        text += "Not above it at the chosen weight: " + ", ".join(below) + ". "
    else:
        text += "Every chosen weight is above it. "
    edges = []
    for m, w in chosen.items():
        for side, edge in (("largest", max(grid_weights(m))), ("smallest", min(grid_weights(m)))):
            if same_weight(w, edge):
                edges.append(f"{m} ({w:g}, the grid's {side})")
    if edges:
        text += (
            "Chosen at an edge of the grid: " + ", ".join(edges) + "; a wider grid might do "
            "better there, but the grid was fixed before the runs and was not widened."
        )
    return text + "\n"


def ida_floor_note(development: list[dict] | None, base: AdaptConfig) -> str:
    """What the ridge IDA term reaches on the development tasks, against its lower bound."""
    runs = [
        r
        for r in (development or [])
        if r["method"] == "didan" and "align" in r.get("final_losses", {})
    ]
    if not runs:
        return ""
    by_weight: dict[float, list[dict]] = {}
    for r in runs:
        by_weight.setdefault(float(r["weight"]), []).append(r["final_losses"])
    ridge, n = base.ida.ridge, base.batch_size
    floor = ridge / (ridge + n)
    listed = ", ".join(
        f"w = {w:g}: {np.mean([x['align'] for x in v]):.4f} "
        f"({np.mean([x['emotion'] for x in v]):.2f})"
        for w, v in sorted(by_weight.items())
    )
    return (
        "What the DIDAN term does on the development tasks (IDA value over the last tenth "
        "of training, mean over runs, with the source emotion loss in brackets; at w = 0 "
        f"the term is measured but not optimised): {listed}. "
        f"With rows normalised, the ridge IDA value cannot fall below lambda / (lambda + n_s) "
        f"= {ridge:g} / ({ridge:g} + {n}) = {floor:.4f}, and reaches it only when every source "
        "row and the target rows lie on one ray. The strong weights drive the term to that "
        "floor while the emotion loss rises: in our reading a target direction is cheaper "
        "the more source energy lies on it, so the term is minimised by concentrating all "
        "FC2 features on few directions, not by matching the two distributions; the "
        "normalisation guards against shrinking features, not against this. The weak "
        "weights leave the term near its unoptimised value and the model near source-only. "
        "We found no defect of the code against its documented reading (the solvers, the "
        "loss value and its gradient do what `training/adapt/ida.py` describes, checked by "
        "the tests); the concentration is a property of the reading itself. Changing the "
        "loss would make a new method, designed after seeing this one fail, so it was not "
        "done here.\n"
    )
