"""The cross-corpus protocol: every ordered pair of corpora x every method x several seeds.

DIDAN's protocol on EmoDB (B), eNTERFACE (E) and CASIA (C): six ordered tasks,
each scored on the classes its two corpora share, UAR on the whole target
corpus. The same runner serves the SynthEmo analogue (one corpus per TTS
engine). Pooled log-mel maps are computed once per corpus and cached; runs go
to a JSON Lines file as they finish, so an interrupted experiment resumes. A
run is identified by (task, method, seed, alignment weight): rows made with
another weight (an earlier choice) stay in the file but are neither reused nor
reported. `training.adapt.cross_corpus` runs the protocol from the command line and
writes the report.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from itertools import permutations
from pathlib import Path

import torch

from training.adapt.data import CorpusSpec, MapBank, extract_maps, shared_emotions
from training.adapt.network import DidanConfig, DidanNet
from training.adapt.trainer import AdaptConfig, accuracy, adapt, score

log = logging.getLogger(__name__)

SEEDS = (0, 1, 2)

VARIANTS = {
    "didan-sparse": ("didan", {"solver": "sparse"}),
    "didan-class": ("didan", {"class_aware": True}),
}
"""Table rows that are DIDAN with other IDA options: the sparse (FISTA) solver, and
class-aware reconstruction on target pseudo-labels after the warm-up."""


CONTROLS = {"joint-batch": "didan"}
"""Table rows that run a method's code at w = 0: "joint-batch" forwards the joint source +
target batch like every aligned row (so batch norm sees target maps) with no alignment
term, which separates what the joint batch does from what the alignment term does."""


def config_for(label: str, base: AdaptConfig, seed: int) -> AdaptConfig:
    """The run settings of table row `label` (a method, a VARIANTS or a CONTROLS key)."""
    if label in CONTROLS:
        return replace(base, method=CONTROLS[label], seed=seed, alignment_weight=0.0)
    method, ida = VARIANTS.get(label, (label, {}))
    return replace(base, method=method, seed=seed, ida=replace(base.ida, **ida))


def cache_maps(spec: CorpusSpec, cache_dir: Path) -> Path:
    """A file with the pooled maps and emotions of every utterance of `spec`, made once."""
    extractor = DidanNet(DidanConfig(classes=("neutral", "happy")))
    key = json.dumps([str(spec), extractor.config.to_dict()], sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    path = cache_dir / f"{spec.name}-{digest}.pt"
    if not path.exists():
        utterances = spec.load()
        maps = extract_maps(utterances, extractor.maps, extractor.min_samples)
        cache_dir.mkdir(parents=True, exist_ok=True)
        torch.save({"maps": maps, "emotions": [u.emotion for u in utterances]}, path)
        log.info("%s: %d utterances cached", spec.name, len(maps))
    return path


def task_name(source: str, target: str) -> str:
    return f"{source}->{target}"


def run_key(task: str, method: str, seed: int, weight: float | None) -> tuple:
    """What identifies a run in a results file; rows without a weight match nothing."""
    return (task, method, seed, None if weight is None else round(float(weight), 9))


def row_key(row: dict) -> tuple:
    return run_key(row["task"], row["method"], row["seed"], row.get("weight"))


def current_rows(rows: Sequence[dict], base: AdaptConfig) -> list[dict]:
    """The rows made with the weight each method has now (stale weights dropped)."""
    return [
        r
        for r in rows
        if row_key(r)
        == run_key(r["task"], r["method"], r["seed"], config_for(r["method"], base, 0).weight)
    ]


def _run_one(job: dict) -> dict:
    torch.set_num_threads(1)
    data = {code: torch.load(path) for code, path in job["caches"].items()}
    source, target = job["source"], job["target"]
    classes = job["classes"]
    source_bank = MapBank.labelled(data[source]["maps"], data[source]["emotions"], classes)
    # Adaptation sees every target utterance, whatever its emotion: choosing the target's
    # utterances by label would be reading target labels. Labels only score, below.
    pool = MapBank.unlabelled(data[target]["maps"])
    target_bank = MapBank.labelled(data[target]["maps"], data[target]["emotions"], classes)
    config = AdaptConfig.from_dict(job["config"])
    run = adapt(config, classes, source_bank, pool)
    label = job["label"]
    target_logits, _ = score(run.model, target_bank)
    source_logits, _ = score(run.model, source_bank)
    return {
        "task": task_name(source, target),
        "source": source,
        "target": target,
        "classes": list(classes),
        "method": label,
        "seed": config.seed,
        "weight": config.weight,
        "ua": accuracy(target_logits, target_bank.labels)["ua"],
        "wa": accuracy(target_logits, target_bank.labels)["wa"],
        "source_ua": accuracy(source_logits, source_bank.labels)["ua"],
        "seconds": run.seconds,
        "final_losses": run.history[-1],
    }


def protocol_job(
    label: str,
    caches: dict[str, Path],
    source: str,
    target: str,
    classes: Sequence[str],
    config: AdaptConfig,
) -> dict:
    """One run for `_run_one` (picklable: paths and plain settings only)."""
    return {
        "label": label,
        "caches": {source: str(caches[source]), target: str(caches[target])},
        "source": source,
        "target": target,
        "classes": tuple(classes),
        "config": config.to_dict(),
    }


def run_jobs(jobs: Sequence[dict], results: Path, workers: int) -> list[dict]:
    """Runs the jobs whose key `results` does not hold yet, appending rows as they finish;
    returns every row of `results`."""
    done = {row_key(r) for r in read_results(results)}
    todo = []
    for job in jobs:
        config = AdaptConfig.from_dict(job["config"])
        key = run_key(
            task_name(job["source"], job["target"]), job["label"], config.seed, config.weight
        )
        if key not in done:
            todo.append(job)
            done.add(key)
    log.info("%d runs to do, %d already in %s", len(todo), len(jobs) - len(todo), results)
    results.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=workers) as pool, results.open("a") as out:
        for row in pool.map(_run_one, todo):
            out.write(json.dumps(row) + "\n")
            out.flush()
            log.info(
                "%s %s@%g seed %d: UA %.3f",
                row["task"],
                row["method"],
                row["weight"],
                row["seed"],
                row["ua"],
            )
    return read_results(results)


def run_protocol(
    corpora: dict[str, CorpusSpec],
    results: Path,
    base: AdaptConfig,
    methods: Sequence[str],
    seeds: Sequence[int] = SEEDS,
    cache_dir: Path | None = None,
    workers: int = 2,
) -> list[dict]:
    """Runs what `results` does not hold yet; returns its rows at the current weights.

    Args:
        corpora: Short code ("B", "espeak") -> corpus spec.
        base: Settings shared by every run; method and seed are replaced per run.
    """
    cache_dir = cache_dir or results.parent / "cache"
    caches = {code: cache_maps(spec, cache_dir) for code, spec in corpora.items()}
    emotions = {code: torch.load(path)["emotions"] for code, path in caches.items()}
    jobs = []
    for seed in seeds:
        for method in methods:
            for source, target in permutations(corpora, 2):
                classes = shared_emotions(emotions[source], emotions[target])
                config = config_for(method, base, seed)
                jobs.append(protocol_job(method, caches, source, target, classes, config))
    return current_rows(run_jobs(jobs, results, workers), base)


def read_results(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


SYNTHEMO_CORPORA = {
    "espeak": "synthemo-espeak",
    "flite": "synthemo-flite",
    "festival": "synthemo-festival",
}
REAL_CORPORA = {"B": "emodb", "E": "enterface", "C": "casia"}
TABLE_METHODS = ("source-only", "joint-batch", "didan", "lidan", "mmd", "dann", "coral")


TABLE_ENGINES = ("espeak-ng", "flite", "festival")


def ensure_synthemo(
    root: Path,
    per_class: int,
    workers: int,
    engines: Sequence[str] = TABLE_ENGINES,
    seed: int = 0,
) -> Path:
    """SynthEmo's four-class corpora, one per engine, under `root` (made or resumed)."""
    from streamser.labels import FOUR_CLASS
    from training.synthemo.generate import generate
    from training.synthemo.plan import SynthOptions

    manifest = root / "manifest.csv"
    if not manifest.exists():
        options = SynthOptions(
            engines=tuple(engines), emotions=FOUR_CLASS, per_class=per_class, seed=seed
        )
        generate(options, root, workers=workers)
    return manifest
