"""Regenerate the bundled default model from nothing (`bin/make-default-model`).

SynthEmo corpora from the three TTS engines -> MSAC-SERNet on the four core
emotions under a speaker-disjoint protocol with held-out sentences -> the
ablation the model card reports (cross-entropy vs AM-softmax vs AM-softmax +
MSAC, several seeds) -> export of the AM-softmax + MSAC run that validated best
-> `models/default.onnx` and `models/MODEL_CARD.md`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from streamser.labels import FOUR_CLASS
from training.checkpoint import load_checkpoint
from training.config import AttributeControl, TrainConfig
from training.evaluate import Evaluation, evaluate, write_report
from training.experiment import partition
from training.export import export_checkpoint
from training.model_card import write_model_card
from training.ood_eval import evaluate_exported, fpr_summary, write_json
from training.ood_sets import SET_NAMES
from training.predict import EmotionPredictor
from training.synthemo.generate import generate
from training.synthemo.plan import SynthOptions
from training.trainer import Trainer

log = logging.getLogger(__name__)

MODEL_NAME = "msac-sernet-synthemo-4"

VARIANTS: dict[str, dict] = {
    "cross-entropy": {"loss": "cross-entropy", "msac": AttributeControl.off()},
    "AM-softmax": {"loss": "am-softmax", "msac": AttributeControl.off()},
    "AM-softmax + MSAC": {"loss": "am-softmax", "msac": AttributeControl()},
}
SHIPPED_VARIANT = "AM-softmax + MSAC"


@dataclass(frozen=True)
class Recipe:
    """Attributes:
    per_class: SynthEmo files per emotion, engine and condition.
    epochs: Training epochs per run (early stopping may end a run sooner).
    seeds: Seeds of the ablation; the shipped model is one of its runs.
    corpus_seed: Seed of the corpus (fixed: every run sees the same data).
    """

    per_class: int = 150
    epochs: int = 10
    seeds: tuple[int, ...] = (0, 1, 2)
    corpus_seed: int = 0

    def base_config(self, manifest: Path, output: Path, seed: int) -> TrainConfig:
        return TrainConfig(
            data=(str(manifest),),
            classes=FOUR_CLASS,
            output_dir=str(output),
            seed=seed,
            epochs=self.epochs,
            patience_epochs=self.epochs,
            crop_seconds=1.5,
            split_fractions=(0.6, 0.2, 0.2),
            hold_out_texts=0.25,
        )


@dataclass(frozen=True)
class RunResult:
    variant: str
    seed: int
    checkpoint: Path
    validation_ua: float
    test: Evaluation
    seconds: float


def make_corpus(recipe: Recipe, work: Path, jobs: int) -> Path:
    options = SynthOptions(emotions=FOUR_CLASS, per_class=recipe.per_class, seed=recipe.corpus_seed)
    return generate(options, work / "corpus", workers=jobs).manifest


def run_variant(recipe: Recipe, manifest: Path, work: Path, variant: str, seed: int) -> RunResult:
    """One training run of the ablation, in its own process with one torch thread.

    Small convolutions scale poorly over threads: on 2 cores, two single-threaded
    runs side by side finish sooner than the same two runs one after the other.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    output = work / "runs" / run_name(variant, seed)
    config = replace(recipe.base_config(manifest, output, seed), threads=1, **VARIANTS[variant])
    done = output / "done.json"
    if done.exists():  # finished by an earlier, interrupted regeneration: kept as it is
        record = json.loads(done.read_text())
        test = Evaluation.from_dict(record["test"])
        return RunResult(
            variant, seed, output / "best.pt", record["validation_ua"], test, record["seconds"]
        )
    started = time.perf_counter()
    best = Trainer(config).fit()
    seconds = time.perf_counter() - started
    validation_ua = load_checkpoint(best).history["best_ua"]
    test = evaluate(EmotionPredictor(best), partition(config).test)
    record = {"seconds": seconds, "validation_ua": validation_ua, "test": test.to_dict()}
    done.write_text(json.dumps(record, indent=1))
    log.info("%s seed %d: test UA %.3f (%.0f s)", variant, seed, test.unweighted_accuracy, seconds)
    return RunResult(variant, seed, best, validation_ua, test, seconds)


def run_name(variant: str, seed: int) -> str:
    return variant.replace(" + ", "-").replace(" ", "-").lower() + f"/seed{seed}"


def ablation_table(results: list[RunResult]) -> list[dict]:
    rows = []
    for variant in VARIANTS:
        runs = [r for r in results if r.variant == variant]
        uas = [r.test.unweighted_accuracy for r in runs]
        was = [r.test.weighted_accuracy for r in runs]
        rows.append(
            {
                "variant": variant,
                "seeds": [r.seed for r in runs],
                "test_ua": uas,
                "ua_mean": statistics.mean(uas),
                "ua_std": statistics.stdev(uas) if len(uas) > 1 else 0.0,
                "wa_mean": statistics.mean(was),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=Path("runs/default-model"))
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--epochs", type=int, default=Recipe.epochs)
    parser.add_argument("--per-class", type=int, default=Recipe.per_class)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    recipe = Recipe(
        per_class=args.per_class,
        epochs=args.epochs,
        seeds=tuple(int(s) for s in args.seeds.split(",")),
    )
    started = time.perf_counter()
    manifest = make_corpus(recipe, args.work, args.jobs)
    runs = [(variant, seed) for seed in recipe.seeds for variant in VARIANTS]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [
            pool.submit(run_variant, recipe, manifest, args.work, variant, seed)
            for variant, seed in runs
        ]
        results = [future.result() for future in futures]
    # Declared before any result: seeds also draw the speaker split, so validation
    # scores of different seeds are not comparable and cannot pick among them.
    shipped = next(r for r in results if r.variant == SHIPPED_VARIANT and r.seed == recipe.seeds[0])
    model_path = args.models / "default.onnx"
    export_checkpoint(
        shipped.checkpoint,
        model_path,
        name=MODEL_NAME,
        extra_training_info={
            "test_ua": shipped.test.unweighted_accuracy,
            "test_wa": shipped.test.weighted_accuracy,
        },
    )
    config = TrainConfig.from_dict(load_checkpoint(shipped.checkpoint).train_config)
    split = partition(config)
    onnx_test = evaluate(EmotionPredictor(model_path), split.test)
    title = f"{MODEL_NAME}: held-out speakers and sentences"
    write_report(onnx_test, args.models / "default-evaluation.json", title)
    ood = evaluate_exported(
        model_path, split.test, split.validation, SET_NAMES, args.work / "ood-sets", title
    )
    write_json(ood, args.models / "default-ood.json")
    summary = {
        "model": str(model_path),
        "sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
        "shipped_run": {
            "variant": shipped.variant,
            "seed": shipped.seed,
            "validation_ua": shipped.validation_ua,
        },
        "test": onnx_test.to_dict(),
        "ablation": ablation_table(results),
        "recipe": recipe.__dict__,
        "split": split.describe(),
        "ood_table": fpr_summary(ood),
        "run_minutes": sum(r.seconds for r in results) / 60,
        "parallel_runs": args.jobs,
        "minutes": (time.perf_counter() - started) / 60,
    }
    (args.work / "summary.json").write_text(json.dumps(summary, indent=1))
    write_model_card(summary, model_path, args.models / "MODEL_CARD.md")
    log.info("done in %.1f min", summary["minutes"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
