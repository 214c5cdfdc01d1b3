"""Choose each method's alignment weight on a development task outside the table.

The table's target labels must not choose anything, so weights are chosen on a
separate task: SynthEmo espeak-ng speech rendered clean (source) and through a
telephone channel (target), from a different seed (different texts and jitter)
than the table's corpora. The shift is a channel shift, not an engine shift. Every
aligned method gets the same grid (0.1x, 1x, 10x its loss-balanced default) and the
same seeds; source-only is the reference. Prints the grid and the chosen weights.

    python -m training.adapt.develop --work runs/cross-corpus
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from training.adapt.data import extract_maps
from training.adapt.experiment import _run_one, config_for
from training.adapt.network import DidanConfig, DidanNet
from training.adapt.trainer import AdaptConfig
from training.corpora import load_manifest

log = logging.getLogger(__name__)

GRID = (0.1, 1.0, 10.0)
METHODS = ("didan", "lidan", "mmd", "dann", "coral")
LOSS_BALANCED = {"didan": 10.0, "lidan": 10.0, "mmd": 1.0, "dann": 0.1, "coral": 1000.0}
"""Grid centres, one label-free rule for every method (Deep CORAL's): the power of ten
nearest to emotion loss / alignment loss at the end of a w = 1 pilot, so that both
terms weigh about the same."""


def ensure_development_corpus(root: Path, workers: int) -> Path:
    from streamser.labels import FOUR_CLASS
    from training.synthemo.conditions import Condition
    from training.synthemo.generate import generate
    from training.synthemo.plan import SynthOptions

    manifest = root / "manifest.csv"
    if not manifest.exists():
        options = SynthOptions(
            engines=("espeak-ng",),
            emotions=FOUR_CLASS,
            per_class=100,
            conditions=(Condition.parse("clean"), Condition.parse("telephone")),
            seed=1,
        )
        generate(options, root, workers=workers)
    return manifest


def cache_conditions(manifest: Path, cache_dir: Path) -> dict[str, str]:
    """One cache file per recording condition: {"clean": path, "telephone": path}."""
    extractor = DidanNet(DidanConfig(classes=("neutral", "happy")))
    utterances = load_manifest(manifest)
    paths = {}
    for condition in ("clean", "telephone"):
        path = cache_dir / f"development-{condition}.pt"
        if not path.exists():
            kept = [u for u in utterances if u.condition == condition]
            maps = extract_maps(kept, extractor.maps, extractor.min_samples)
            cache_dir.mkdir(parents=True, exist_ok=True)
            torch.save({"maps": maps, "emotions": [u.emotion for u in kept]}, path)
        paths[condition] = str(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("runs/cross-corpus"))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    manifest = ensure_development_corpus(args.work / "development", args.workers)
    caches = cache_conditions(manifest, args.work / "cache")
    classes = ("neutral", "happy", "angry", "sad")
    base = AdaptConfig()
    jobs = []
    for seed in (int(s) for s in args.seeds.split(",")):
        settings = [("source-only", 0.0)]
        settings += [(m, LOSS_BALANCED[m] * g) for m in METHODS for g in GRID]
        for method, weight in settings:
            config = replace(config_for(method, base, seed), alignment_weight=weight)
            jobs.append(
                {
                    "label": f"{method}@{weight:g}",
                    "caches": caches,
                    "source": "clean",
                    "target": "telephone",
                    "classes": classes,
                    "config": config.to_dict(),
                }
            )
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        rows = list(pool.map(_run_one, jobs))
    results = args.work / "development.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    by_label: dict[str, list[float]] = {}
    for row in rows:
        by_label.setdefault(row["method"], []).append(100 * row["ua"])
    for label, values in by_label.items():
        print(f"{label:20s} {np.mean(values):5.1f} ± {np.std(values):.1f}")
    for method in METHODS:
        best = max(
            (label for label in by_label if label.startswith(method + "@")),
            key=lambda label: np.mean(by_label[label]),
        )
        print(f"chosen {method}: weight {best.split('@')[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
