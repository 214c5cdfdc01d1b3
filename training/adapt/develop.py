"""Choose each method's alignment weight on development tasks outside the table.

The rule: no label of a corpus the table scores is read to train or to choose
anything. The table's corpora (SynthEmo espeak, flite and festival, seed 0) are
each the target of two table tasks, so their labels may not choose a weight
either, even as a source. Development therefore uses:

- **A fourth engine as the target**: SVOX pico, an HMM voice that no table corpus
  uses, so every development task is an engine shift like the table's, and pico
  never appears in the table. Pico's labels are read only here, to choose weights.
- **Fresh source corpora**: the table's engines rendered again with another seed
  (`DEVELOPMENT_SEED`: other sentences, speakers and prosody jitter), so not one
  utterance of the table is read here, with or without its label.
- **Tasks** `DEVELOPMENT_SOURCES` -> pico (espeak -> pico and flite -> pico: one
  formant and one diphone source; festival -> pico is left out for time).

Every aligned table method gets the same half-decade grid, `GRID` times its
loss-balanced centre (0.01x to 10x), on the same tasks and seeds. Source-only is
the reference, and didan at w = 0 (the joint source + target batch through batch
norm, no alignment term) a control that shows how much the joint batch alone does.

The choice (`choose_weights`): among the weights whose mean source training UAR
on the development sources stays within `SOURCE_FIT_TOLERANCE` points of
source-only's, the highest mean UAR on the development targets; ties go to the
smaller weight. The guard reads source labels only. Its reason: the alignment
term is meant to move target features to the source's, not to trade away the
source task; a weight that costs the source fit wins on the development target
only by betting on that particular shift, which is what transfers worst to other
shifts. If no weight passes, the one with the best source UAR is taken.

    python -m training.adapt.develop --work runs/cross-corpus --workers 2

Prints the grid and the chosen weights; copy them into `trainer.DEFAULT_WEIGHTS`
(the report checks that they agree with this file's choice).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from training.adapt.data import CorpusSpec
from training.adapt.experiment import (
    CONTROLS,
    SYNTHEMO_CORPORA,
    TABLE_ENGINES,
    TABLE_METHODS,
    cache_maps,
    config_for,
    ensure_synthemo,
    protocol_job,
    run_jobs,
)
from training.adapt.trainer import AdaptConfig

log = logging.getLogger(__name__)

DEVELOPMENT_SEED = 1
"""SynthEmo seed of the development corpora (the table's corpora use seed 0)."""
DEVELOPMENT_CORPORA = {**SYNTHEMO_CORPORA, "pico": "synthemo-pico"}
DEVELOPMENT_SOURCES = ("espeak", "flite")
DEVELOPMENT_TARGET = "pico"
DEVELOPMENT_SEEDS = (0, 1)
"""Run seeds (initialisation, batches, crops) of the development grid."""
RESULTS_FILE = "development-pico.jsonl"

GRID = tuple(10.0 ** (k / 2) for k in range(-4, 3))
"""Half-decade steps from 0.01x to 10x of a method's centre."""
LOSS_BALANCED = {"didan": 10.0, "lidan": 10.0, "mmd": 1.0, "dann": 0.1, "coral": 1000.0}
"""Grid centres, one label-free rule for every method (Deep CORAL's): the power of ten
nearest to emotion loss / alignment loss at the end of a w = 1 pilot, so that both
terms weigh about the same."""
SOURCE_FIT_TOLERANCE = 5.0
"""Points of source training UAR a chosen weight may lose against source-only."""
CONTROL = ("didan", 0.0)
"""Joint batch, no alignment: reported, never chosen."""


def aligned_methods() -> tuple[str, ...]:
    """The table's aligned rows (not source-only, not the w = 0 controls): each gets the grid."""
    return tuple(m for m in TABLE_METHODS if m != "source-only" and m not in CONTROLS)


def grid_weights(method: str) -> tuple[float, ...]:
    """The method's grid, rounded to three significant digits."""
    return tuple(float(f"{LOSS_BALANCED[method] * g:.3g}") for g in GRID)


def development_settings() -> list[tuple[str, float]]:
    """(method, weight) pairs of the grid: source-only, the control, then every method's grid."""
    settings = [("source-only", 0.0), CONTROL]
    settings += [(m, w) for m in aligned_methods() for w in grid_weights(m)]
    return settings


def development_jobs(
    caches: dict[str, Path],
    classes: Sequence[str],
    base: AdaptConfig,
    seeds: Sequence[int] = DEVELOPMENT_SEEDS,
    sources: Sequence[str] = DEVELOPMENT_SOURCES,
    target: str = DEVELOPMENT_TARGET,
) -> list[dict]:
    """Every setting x development task x seed, as jobs for `experiment.run_jobs`."""
    if target in sources or target in SYNTHEMO_CORPORA:
        raise ValueError(f"development target {target!r} must be outside the table")
    jobs = []
    for seed in seeds:
        for source in sources:
            for method, weight in development_settings():
                config = replace(config_for(method, base, seed), alignment_weight=weight)
                jobs.append(protocol_job(method, caches, source, target, classes, config))
    return jobs


def summarise(rows: Sequence[dict]) -> dict[tuple[str, float], dict[str, float]]:
    """(method, weight) -> mean target UAR, mean source training UAR (both %) and run count."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["method"], float(row["weight"])), []).append(row)
    return {
        key: {
            "ua": 100 * float(np.mean([r["ua"] for r in group])),
            "ua_std": 100 * float(np.std([r["ua"] for r in group])),
            "source_ua": 100 * float(np.mean([r["source_ua"] for r in group])),
            "runs": len(group),
        }
        for key, group in groups.items()
    }


def choose_weights(
    rows: Sequence[dict],
    methods: Sequence[str] | None = None,
    tolerance: float = SOURCE_FIT_TOLERANCE,
) -> dict[str, float]:
    """Each method's weight by the rule of the module docstring, among the weights run on
    every (task, seed) that source-only was run on."""
    stats = summarise(rows)
    if ("source-only", 0.0) not in stats:
        return {}
    reference = stats[("source-only", 0.0)]
    covered: dict[tuple[str, float], set] = {}
    for r in rows:
        covered.setdefault((r["method"], float(r["weight"])), set()).add((r["task"], r["seed"]))
    complete = covered[("source-only", 0.0)]
    chosen = {}
    for method in methods or aligned_methods():
        candidates = [
            (w, s)
            for (m, w), s in stats.items()
            if m == method and w > 0 and covered[(m, w)] == complete
        ]
        if not candidates:
            continue
        floor = reference["source_ua"] - tolerance
        fit = [(w, s) for w, s in candidates if s["source_ua"] >= floor]
        if fit:
            chosen[method] = max(fit, key=lambda ws: (ws[1]["ua"], -ws[0]))[0]
        else:
            chosen[method] = max(candidates, key=lambda ws: (ws[1]["source_ua"], -ws[0]))[0]
    return chosen


def same_weight(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("runs/cross-corpus"))
    parser.add_argument("--seeds", default=",".join(map(str, DEVELOPMENT_SEEDS)))
    parser.add_argument("--sources", default=",".join(DEVELOPMENT_SOURCES))
    parser.add_argument("--per-class", type=int, default=150, help="SynthEmo files per emotion")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    manifest = ensure_synthemo(
        args.work / "development-pico",
        args.per_class,
        args.workers,
        engines=(*TABLE_ENGINES, "pico"),
        seed=DEVELOPMENT_SEED,
    )
    caches = {
        code: cache_maps(CorpusSpec(name, manifest), args.work / "cache")
        for code, name in DEVELOPMENT_CORPORA.items()
    }
    classes = ("neutral", "happy", "angry", "sad")
    seeds = [int(s) for s in args.seeds.split(",")]
    sources = args.sources.split(",")
    jobs = development_jobs(caches, classes, AdaptConfig(), seeds, sources)
    rows = run_jobs(jobs, args.work / RESULTS_FILE, args.workers)
    wanted = {(t, s) for t in (f"{src}->{DEVELOPMENT_TARGET}" for src in sources) for s in seeds}
    rows = [r for r in rows if (r["task"], r["seed"]) in wanted]
    for (method, weight), s in summarise(rows).items():
        print(
            f"{method:12s} {weight:<8g} target {s['ua']:5.1f} ± {s['ua_std']:4.1f}"
            f"  source {s['source_ua']:5.1f}  ({s['runs']} runs)"
        )
    for method, weight in choose_weights(rows).items():
        print(f"chosen {method}: weight {weight:g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
