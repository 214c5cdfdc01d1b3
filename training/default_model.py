"""Regenerate the bundled default model (`bin/make-default-model --emodb DIR`).

Real acted speech (EmoDB, any copy of it) and synthetic speech (SynthEmo) ->
MSAC-SERNet on the four core emotions, with per-speaker normalisation and
call-center augmentation (room, noise, 8 kHz G.711 line):

1. the SynthEmo corpus;
2. leave-one-speaker-out cross-validation on EmoDB (`training.crossval`): the shipped
   variant, its ablation and the eGeMAPS reference rows, for 4 classes and for 7,
   wideband and through a telephone channel, with the gate per fold;
3. cross-domain: trained without EmoDB labels (SynthEmo only) -> all of EmoDB, and
   EmoDB only -> all of SynthEmo;
4. the shipped run: EmoDB + SynthEmo, with two EmoDB speakers (one female, one
   male, fixed here before any result) held out for early stopping and for the
   gate's calibration, so both are decided on real voices;
5. export, a static int8 copy with its own gate that ships if it keeps accuracy
   (`training.quantise`), the OOD sets, real neutral speech (IVR prompts), and the
   model card.

Work files go to runs/default-model; every step resumes where it stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import tomllib

from streamser.labels import FOUR_CLASS, SEVEN_CLASS
from streamser.models import DEFAULT_MODEL_FILE
from training.classic import ClassicOptions
from training.config import TrainConfig
from training.corpora import Utterance
from training.crossval import ClassicRow, CnnRow, CrossValidation, CrossValidationPlan
from training.crossval_report import compact_report
from training.evaluate import evaluate
from training.experiment import Partition, load_data, partition
from training.predict import EmotionPredictor

log = logging.getLogger(__name__)

MODEL_NAME = "msac-sernet-real-4"

VARIANTS_DIR = Path(__file__).parent / "variants"
SHIPPED_VARIANT = "msac-speaker-norm"
ABLATION = (SHIPPED_VARIANT, "msac", "speaker-norm", "msac-speaker-norm-fullband")
"""The ablation: AM-softmax throughout; attribute control (MSAC) and speaker
normalisation each switched off once, and the full band (20-8000 Hz) heard instead of
the telephone band. Each is a TrainConfig in `variants/NAME.toml`, which `streamser
evaluate --cv loso --variant` takes as well."""


def variant(name: str) -> dict:
    return tomllib.loads((VARIANTS_DIR / f"{name}.toml").read_text())


REFERENCE_ROWS = (
    ClassicRow("egemaps-svm", ClassicOptions(kind="svm")),
    ClassicRow("egemaps-logreg", ClassicOptions(kind="logreg")),
)
VALIDATION_SPEAKERS = ("emodb:03", "emodb:08")
"""The shipped run's real validation voices: EmoDB's first male and first female
speaker by number, chosen before any result."""


@dataclass(frozen=True)
class Recipe:
    """Attributes:
    emodb: The EmoDB folder (the original 16 kHz corpus or a processed copy).
    per_class: SynthEmo files per emotion, engine and condition.
    corpus_seed: Seed of the SynthEmo corpus.
    seed: Seed of every training run.
    """

    emodb: Path
    per_class: int = 60
    corpus_seed: int = 0
    seed: int = 0

    @property
    def emodb_spec(self) -> str:
        return f"emodb={self.emodb}"


def make_corpus(recipe: Recipe, work: Path, jobs: int) -> Path:
    from training.synthemo.generate import generate
    from training.synthemo.plan import SynthOptions

    options = SynthOptions(emotions=FOUR_CLASS, per_class=recipe.per_class, seed=recipe.corpus_seed)
    return generate(options, work / "corpus", workers=jobs).manifest


def cross_validate(recipe: Recipe, work: Path, jobs: int) -> dict[str, dict]:
    """LOSO on EmoDB: the full ablation for 4 classes, the shipped variant for 7."""
    reports = {}
    for classes, variants in ((FOUR_CLASS, ABLATION), (SEVEN_CLASS, (SHIPPED_VARIANT,))):
        plan = CrossValidationPlan(data=(recipe.emodb_spec,), classes=classes, seed=recipe.seed)
        rows = [CnnRow(name, variant(name)) for name in variants] + list(REFERENCE_ROWS)
        name = f"{len(classes)}-class"
        reports[name] = CrossValidation(plan, rows, work / "cv" / name, jobs=jobs).run()
    return reports


def train_run(recipe: Recipe, name: str, manifest: Path, work: Path) -> Path:
    """One of the recipe's own runs, resumable, in its own process with one torch
    thread (utterance records do not cross processes: each process lists them)."""
    from training.resumable import train_once

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config, data = run_plan(recipe, name, manifest, work)
    return train_once(config, data)


RUNS = ("shipped", "synthemo-only", "emodb-only")


def run_plan(
    recipe: Recipe, name: str, manifest: Path, work: Path
) -> tuple[TrainConfig, Partition]:
    """The config and data of one of RUNS."""
    emodb = four_class(load_data((recipe.emodb_spec,)))
    output = work / "runs" / name
    if name == "synthemo-only":
        config = shipped_config(recipe, (str(manifest),), output)
        return config, partition(config)
    if name == "emodb-only":
        return shipped_config(recipe, (recipe.emodb_spec,), output), shipped_partition(emodb, [])
    synthemo = load_data((str(manifest),))
    config = shipped_config(recipe, (recipe.emodb_spec, str(manifest)), output)
    return config, shipped_partition(emodb, synthemo)


def shipped_config(recipe: Recipe, data: tuple[str, ...], output: Path) -> TrainConfig:
    settings = {"classes": FOUR_CLASS, "seed": recipe.seed, "threads": 1}
    return TrainConfig.from_dict(
        {**settings, **variant(SHIPPED_VARIANT), "data": data, "output_dir": str(output)}
    )


def shipped_partition(emodb: list[Utterance], synthemo: list[Utterance]) -> Partition:
    """EmoDB's validation speakers validate; everything else trains. No test split:
    the cross-validation is the test of this recipe."""
    validation = [u for u in emodb if u.speaker in VALIDATION_SPEAKERS]
    train = [u for u in emodb if u.speaker not in VALIDATION_SPEAKERS] + synthemo
    return Partition(train=train, validation=validation, test=[], held_out_texts=())


def four_class(utterances: list[Utterance]) -> list[Utterance]:
    return [u for u in utterances if u.emotion in FOUR_CLASS]


def channel_evaluations(checkpoint: Path, utterances: list[Utterance]) -> dict[str, dict]:
    """A model's scores on `utterances`, wideband and through the telephone channel."""
    from training.crossval import through_telephone

    predictor = EmotionPredictor(checkpoint)
    return {
        "wideband": evaluate(predictor, utterances).to_dict(),
        "telephone": evaluate(predictor, utterances, through_telephone).to_dict(),
    }


def ship_int8(
    recipe: Recipe,
    float_path: Path,
    output: Path,
    data: Partition,
    manifest: Path,
    work: Path,
) -> dict:
    """The float model's static int8 copy at `output`, with a gate fitted on its own
    features, if it passes `training.quantise`'s rule; else the float model. Returns
    the rule's evidence without its per-fold rows."""
    from training.data import AudioCache
    from training.quantise import calibrate_gate, calibration_sample, check, quantise, replace_gate

    quantised = work / "int8.onnx"
    quantise(float_path, quantised, calibration_sample(AudioCache(data.train).audio))
    replace_gate(quantised, calibrate_gate(quantised, data, recipe.seed))
    cv_row = work / "cv" / f"{len(FOUR_CLASS)}-class" / SHIPPED_VARIANT
    report = check(float_path, quantised, recipe.emodb, cv_row, manifest, work / "quantise")
    shutil.copyfile(quantised if report["ships"] else float_path, output)
    log.info("int8 %s: %s", "ships" if report["ships"] else "does not ship", output)
    return {**report, "emodb_loso": {k: v for k, v in report["emodb_loso"].items() if k != "folds"}}


def describe_emodb(utterances: list[Utterance]) -> dict[str, str]:
    """What the card must say about the EmoDB copy the recipe was given: the original
    corpus has utterances of 1.2-9 s, processed copies crop them all to one length."""
    import soundfile

    infos = [soundfile.info(str(u.path)) for u in utterances]
    seconds = [info.duration for info in infos]
    rates = sorted({info.samplerate for info in infos})
    shortest, longest = min(seconds), max(seconds)
    rate = "/".join(f"{r / 1000:g} kHz" for r in rates)
    note = (
        f"a processed copy: every clip is {shortest:.1f} s at {rate}; longer sentences "
        "lost their end"
        if longest - shortest < 0.05
        else f"clips of {shortest:.1f}-{longest:.1f} s at {rate}"
    )
    counts = Counter(u.emotion for u in utterances)
    speakers = len({u.speaker for u in utterances})
    listed = ", ".join(f"{e} {counts[e]}" for e in FOUR_CLASS)
    return {"note": note, "counts": f"{listed} ({speakers} speakers)"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--emodb", type=Path, required=True, help="the EmoDB folder")
    parser.add_argument("--work", type=Path, default=Path("runs/default-model"))
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--per-class", type=int, default=Recipe.per_class)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    recipe = Recipe(emodb=args.emodb, per_class=args.per_class)
    started = time.perf_counter()
    work = args.work
    manifest = make_corpus(recipe, work, args.jobs)
    emodb = four_class(load_data((recipe.emodb_spec,)))
    synthemo = load_data((str(manifest),))

    # The shipped run and the two cross-domain runs, side by side.
    # Spawned, not forked (see training.crossval).
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=spawn) as pool:
        futures = {name: pool.submit(train_run, recipe, name, manifest, work) for name in RUNS}
        checkpoints = {name: future.result() for name, future in futures.items()}
    shipped_data = run_plan(recipe, "shipped", manifest, work)[1]
    cross_domain = {
        "synthemo-only -> emodb": channel_evaluations(checkpoints["synthemo-only"], emodb),
        "emodb-only -> synthemo": channel_evaluations(checkpoints["emodb-only"], synthemo),
    }
    reports = cross_validate(recipe, work, args.jobs)

    from training.export import export_checkpoint
    from training.model_card import write_model_card
    from training.neutral_check import real_speech_check
    from training.ood.evaluate_model import evaluate_exported
    from training.ood.report import card_tables, write_json
    from training.ood.sets import SET_NAMES

    float_path = export_checkpoint(
        checkpoints["shipped"], work / "float.onnx", name=MODEL_NAME, data=shipped_data
    )
    model_path = args.models / DEFAULT_MODEL_FILE
    int8 = ship_int8(recipe, float_path, model_path, shipped_data, manifest, work)
    title = f"{MODEL_NAME}: held-out EmoDB speakers (the calibration set) vs OOD sets"
    ood = evaluate_exported(
        model_path, shipped_data.validation, shipped_data.validation, SET_NAMES,
        work / "ood-sets", title,
    )  # fmt: skip
    write_json(ood, args.models / "default-ood.json")
    summary = {
        "model": str(model_path),
        "sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
        "emodb": describe_emodb(emodb),
        "recipe": {
            "per_class": recipe.per_class,
            "seed": recipe.seed,
            "variant": variant(SHIPPED_VARIANT),
        },
        "shipped": {
            "variant": SHIPPED_VARIANT,
            "validation_speakers": list(VALIDATION_SPEAKERS),
            "split": shipped_data.describe(),
        },
        "crossval": {name: compact_report(report) for name, report in reports.items()},
        "int8": int8,
        "cross_domain": cross_domain,
        "ood_table": card_tables(ood),
        "real_speech": real_speech_check(model_path),
        "minutes": (time.perf_counter() - started) / 60,
    }
    (args.models / "default-evaluation.json").write_text(json.dumps(summary, indent=1))
    write_model_card(summary, model_path, args.models / "MODEL_CARD.md")
    log.info("done in %.1f min", summary["minutes"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
