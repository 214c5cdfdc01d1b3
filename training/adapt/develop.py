"""Choose each aligned row's weight on the development tasks, which the table never scores.

The development tasks are the labelled table tasks on the other part of their target
corpus (`training.adapt.tasks`: other EmoDB actors, other SynthEmo voices); their labels
are read here, only to choose weights. The table's target utterances are not read.

1. Pilot: every aligned row at w = 1 on the development tasks (seed 0). Its grid's
   centre is the power of ten nearest to the ratio of the gradient norms the emotion loss
   and the unweighted alignment term put on the FC2 features over the pilot's first tenth
   of training: the weight at which both pull on the features about equally hard when
   they first meet, so that no grid is placed by hand. (A ratio of loss values, Deep
   CORAL's rule, misplaces a term like IDA whose value is near zero where its gradient
   is not.)
2. Grid: 0.01x, 0.1x, 1x and 10x the centre, every row, the same development tasks and
   seeds; source-only and the joint-batch control beside. The grid reaches further down
   than up because the balance at the start overstates a term whose pull grows as
   training goes on (DANN's discriminator is untrained when it is measured).
3. Rule: among the weights whose mean source training UAR stays within
   SOURCE_FIT_TOLERANCE points of source-only's (source labels only), the highest mean
   development UAR (ties to the smaller weight); if none passes, the best source fit.
   The guard keeps a weight from winning by trading away the source task, a bet on one
   shift that transfers worst to others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from training.adapt.experiment import ALIGNED, CONTROLS, config_for, job
from training.adapt.tasks import DEVELOPMENT_TASKS
from training.adapt.trainer import AdaptConfig

DEVELOPMENT_SEEDS = (0, 1)
PILOT_WEIGHT = 1.0
GRID = (0.01, 0.1, 1.0, 10.0)
"""Decade steps around a row's centre."""
SOURCE_FIT_TOLERANCE = 5.0
"""Points of source training UAR a chosen weight may lose against source-only."""


def pilot_jobs(caches: dict[str, Path], base: AdaptConfig, rows: Sequence[str] = ALIGNED):
    return [
        job(task, row, config_for(row, base, 0, PILOT_WEIGHT), caches)
        for row in rows
        for task in DEVELOPMENT_TASKS
    ]


def centres(pilot: Sequence[dict]) -> dict[str, float]:
    """Row -> its grid centre, from the pilot runs (w = PILOT_WEIGHT) in `pilot`."""
    found: dict[str, list[float]] = {}
    for r in pilot:
        if r["weight"] == PILOT_WEIGHT and r["seed"] == 0 and r["row"] in ALIGNED:
            first = r["first_losses"]
            found.setdefault(r["row"], []).append(first["grad_emotion"] / first["grad_align"])
    return {row: 10.0 ** round(math.log10(np.mean(v))) for row, v in found.items()}


def grid_weights(centre: float) -> tuple[float, ...]:
    """The grid around `centre`, rounded to three significant digits."""
    return tuple(float(f"{centre * g:.3g}") for g in GRID)


def development_jobs(
    caches: dict[str, Path],
    base: AdaptConfig,
    grid_centres: dict[str, float],
    seeds: Sequence[int] = DEVELOPMENT_SEEDS,
) -> list[dict]:
    jobs = []
    for seed in seeds:
        for task in DEVELOPMENT_TASKS:
            for row in CONTROLS:
                jobs.append(job(task, row, config_for(row, base, seed), caches))
            for row, centre in grid_centres.items():
                for weight in grid_weights(centre):
                    jobs.append(job(task, row, config_for(row, base, seed, weight), caches))
    return jobs


def summarise(rows: Sequence[dict]) -> dict[tuple[str, float], dict[str, float]]:
    """(row, weight) -> mean development UAR and source training UAR (%), and runs."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["row"], float(r["weight"])), []).append(r)
    return {
        key: {
            "ua": 100 * float(np.mean([r["ua"] for r in group])),
            "source_ua": 100 * float(np.mean([r["source_ua"] for r in group])),
            "runs": len(group),
        }
        for key, group in groups.items()
    }


def choose_weights(
    rows: Sequence[dict],
    candidates: dict[str, Sequence[float]] | None = None,
    tolerance: float = SOURCE_FIT_TOLERANCE,
) -> dict[str, float]:
    """Each aligned row's weight by the rule of the module docstring, among its
    `candidates` (default: every weight it was run at) run on every (task, seed)
    source-only was run on."""
    stats = summarise(rows)
    if ("source-only", 0.0) not in stats:
        return {}
    covered: dict[tuple[str, float], set] = {}
    for r in rows:
        covered.setdefault((r["row"], float(r["weight"])), set()).add((r["task"], r["seed"]))
    complete = covered[("source-only", 0.0)]
    floor = stats[("source-only", 0.0)]["source_ua"] - tolerance
    chosen = {}
    for row in ALIGNED:
        allowed = None if candidates is None else {round(w, 9) for w in candidates.get(row, ())}
        options = [
            (w, s)
            for (r, w), s in stats.items()
            if r == row
            and w > 0
            and covered[(r, w)] == complete
            and (allowed is None or round(w, 9) in allowed)
        ]
        if not options:
            continue
        fit = [(w, s) for w, s in options if s["source_ua"] >= floor]
        if fit:
            chosen[row] = max(fit, key=lambda ws: (ws[1]["ua"], -ws[0]))[0]
        else:
            chosen[row] = max(options, key=lambda ws: (ws[1]["source_ua"], -ws[0]))[0]
    return chosen


def chosen_weights(development: Sequence[dict]) -> dict[str, float]:
    """The development rule's weights, among each row's grid around its pilot centre."""
    grids = {row: grid_weights(c) for row, c in centres(development).items()}
    return choose_weights(development, grids)


def same_weight(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
