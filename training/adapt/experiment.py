"""The protocol's runs: table rows x tasks x seeds, resumable, one JSON line per run.

A run is identified by (task, part, row, seed, weight, steps): a results file keeps
every run, and a run whose key is already there is not repeated, so an interrupted
experiment resumes and a changed weight makes new runs beside the old ones. Each row
holds what the report needs and nothing it must recompute from audio: the target
UA, the predictions and labels of the scored utterances (for the paired bootstrap),
label-free diagnostics and the feature statistics that show a collapse.
`training.adapt.cross_corpus` runs the protocol from the command line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from training.adapt.data import MapBank
from training.adapt.diagnostics import label_free_summary
from training.adapt.tasks import CLASSES, Task
from training.adapt.trainer import AdaptConfig, adapt, score
from training.metrics import unweighted_accuracy, weighted_accuracy

log = logging.getLogger(__name__)

SEEDS = (0, 1, 2)

ROWS: dict[str, tuple[str, dict, dict]] = {
    "source-only": ("source-only", {}, {}),
    "joint-batch": ("didan", {}, {}),
    "didan": ("didan", {}, {}),
    "didan-sparse": ("didan", {"solver": "sparse"}, {}),
    "lidan": ("lidan", {}, {}),
    "lidan-no-coarse": ("lidan", {}, {"coarse_head": False}),
    "mmd": ("mmd", {}, {}),
    "dann": ("dann", {}, {}),
    "coral": ("coral", {}, {}),
    "didan-absolute": ("didan", {"reference": "absolute"}, {}),
}
"""Table row -> (method, IDA options, other settings). `joint-batch` is a control: DIDAN's
run at w = 0, the joint source + target batch through the network and its batch norm
with no alignment term; an aligned row's gain over it is what its alignment term adds.
`lidan-no-coarse` is LIDAN without its supervised coarse (arousal) head. `didan-absolute`
is the earlier reading of IDA (target from source only), kept to show its collapse."""
CONTROLS = ("source-only", "joint-batch")
"""Rows without an alignment weight (w = 0)."""
ALIGNED = tuple(r for r in ROWS if r not in CONTROLS)


def config_for(row: str, base: AdaptConfig, seed: int, weight: float = 0.0) -> AdaptConfig:
    """The settings of table row `row` at alignment weight `weight` (0 for the controls)."""
    method, ida, other = ROWS[row]
    return replace(
        base,
        method=method,
        seed=seed,
        alignment_weight=0.0 if row in CONTROLS else weight,
        ida=replace(base.ida, **ida),
        **other,
    )


def run_key(task: str, part: str, row: str, seed: int, weight: float, steps: int) -> tuple:
    return (task, part, row, seed, round(float(weight), 9), steps)


def row_key(r: dict) -> tuple:
    return run_key(r["task"], r["part"], r["row"], r["seed"], r["weight"], r["steps"])


def job(task: Task, row: str, config: AdaptConfig, caches: dict[str, Path]) -> dict:
    """One run, picklable: paths and plain settings only."""
    keys = (*task.sources, task.target)
    return {
        "task": asdict(task),
        "row": row,
        "config": config.to_dict(),
        "caches": {k: str(caches[k]) for k in keys},
    }


def job_key(j: dict) -> tuple:
    config = AdaptConfig.from_dict(j["config"])
    task = j["task"]
    return run_key(task["name"], task["part"], j["row"], config.seed, config.weight, config.steps)


def source_bank(data: dict[str, dict], sources: Sequence[str]) -> MapBank:
    maps, emotions = [], []
    for key in sources:
        for m, e in zip(data[key]["maps"], data[key]["emotion"], strict=True):
            if e in CLASSES:
                maps.append(m)
                emotions.append(e)
    return MapBank.labelled(maps, emotions, CLASSES)


def participation_ratio(x: np.ndarray) -> float:
    """Effective number of directions of a feature cloud: (sum eig)^2 / sum eig^2 of its
    covariance; 1 when every feature lies on one line."""
    centred = x - x.mean(axis=0)
    eig = np.clip(np.linalg.eigvalsh(centred.T @ centred / max(len(x) - 1, 1)), 0, None)
    return float(eig.sum() ** 2 / max((eig**2).sum(), 1e-12))


def run_job(j: dict) -> dict:
    """Trains one row on one task and measures it (a worker process)."""
    torch.set_num_threads(1)
    task = Task(**{**j["task"], "sources": tuple(j["task"]["sources"])})
    data = {k: torch.load(p) for k, p in j["caches"].items()}
    config = AdaptConfig.from_dict(j["config"])
    source = source_bank(data, task.sources)
    target = data[task.target]
    pool_index = [i for i, p in enumerate(target["part"]) if p == task.part]
    # The target is adapted to whole: every utterance of its part, whatever its emotion.
    pool = MapBank.unlabelled([target["maps"][i] for i in pool_index])
    run = adapt(config, CLASSES, source, pool)
    logits, embeddings = score(run.model, pool)
    source_logits, source_embeddings = score(run.model, source)
    row = {
        "task": task.name,
        "part": task.part,
        "row": j["row"],
        "method": config.method,
        "features": config.features,
        "seed": config.seed,
        "weight": config.weight,
        "steps": config.steps,
        "classes": list(CLASSES),
        "pool": len(pool),
        "source_ua": unweighted_accuracy(source.labels.numpy(), source_logits.argmax(axis=1)),
        "seconds": run.seconds,
        "first_losses": run.history[0],
        "final_losses": run.history[-1],
        "predicted": logits.argmax(axis=1).tolist(),
        "feature_rank": {
            "source": participation_ratio(source_embeddings),
            "target": participation_ratio(embeddings),
        },
        **label_free_summary(source_logits, logits, CLASSES),
    }
    if task.labelled:
        emotions = [target["emotion"][i] for i in pool_index]
        scored = [k for k, e in enumerate(emotions) if e in CLASSES]
        truth = np.array([CLASSES.index(emotions[k]) for k in scored])
        predicted = logits.argmax(axis=1)[scored]
        row.update(
            scored=scored,
            truth=truth.tolist(),
            ua=unweighted_accuracy(truth, predicted),
            wa=weighted_accuracy(truth, predicted),
        )
    return row


def read_results(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_jobs(jobs: Sequence[dict], results: Path, workers: int) -> list[dict]:
    """Runs the jobs whose key `results` does not hold yet, appending rows as they finish;
    returns every row of `results`."""
    done = {row_key(r) for r in read_results(results)}
    todo = []
    for j in jobs:
        if job_key(j) not in done:
            todo.append(j)
            done.add(job_key(j))
    log.info("%d runs to do, %d already in %s", len(todo), len(jobs) - len(todo), results)
    results.parent.mkdir(parents=True, exist_ok=True)
    if todo:
        import multiprocessing

        # Spawned workers: a fork after torch has run its thread pool can deadlock.
        context = multiprocessing.get_context("spawn")
        with (
            ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool,
            results.open("a") as out,
        ):
            for row in pool.map(run_job, todo):
                out.write(json.dumps(row) + "\n")
                out.flush()
                log.info(
                    "%s [%s] %s@%g seed %d: UA %s, neutral %.2f",
                    row["task"],
                    row["part"],
                    row["row"],
                    row["weight"],
                    row["seed"],
                    f"{row['ua']:.3f}" if "ua" in row else "-",
                    row["neutral"],
                )
    return read_results(results)
