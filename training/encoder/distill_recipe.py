"""Does the fast model gain from the accurate tier as a teacher? (`bin/distill-fast-model`)

Two measurements against the fast model's own (its card's evaluation file):

1. EmoDB leave-one-speaker-out, 4 classes: the shipped variant distilled
   (`--variant`, default `variants/fast-distilled.toml`) as a cross-validation row, so
   every fold's teacher and student are trained without the fold's test and validation
   speakers;
2. SynthEmo only -> EmoDB: student and teacher trained on SynthEmo (the fast model's
   split) and unlabelled real speech, tested on all of EmoDB, wideband and through
   a telephone line.

The report (`report.json`, `report.md`) puts each beside the undistilled number.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import tomllib

from streamser.labels import FOUR_CLASS
from streamser.models.catalog import headline
from training.crossval import CnnRow, CrossValidation, CrossValidationPlan
from training.crossval_report import markdown_table

log = logging.getLogger(__name__)

VARIANT = Path(__file__).parent / "variants" / "fast-distilled.toml"


def synthetic_to_emodb(config: dict, synthemo: Path, emodb: str, work: Path) -> dict:
    """Trains on SynthEmo (and unlabelled speech) and scores all of EmoDB per channel."""
    from training.config import TrainConfig
    from training.crossval import through_telephone
    from training.evaluate import evaluate
    from training.experiment import load_data
    from training.predict import EmotionPredictor
    from training.resumable import train_once

    output = work / "synthemo-only"
    settings = {"classes": FOUR_CLASS, "seed": 0, "threads": 1}
    train_config = TrainConfig.from_dict(
        {**settings, **config, "data": (str(synthemo),), "output_dir": str(output)}
    )
    predictor = EmotionPredictor(train_once(train_config))
    tested = [u for u in load_data((emodb,)) if u.emotion in FOUR_CLASS]
    return {
        "wideband": evaluate(predictor, tested).to_dict(),
        "telephone": evaluate(predictor, tested, through_telephone).to_dict(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emodb", type=Path, required=True)
    parser.add_argument(
        "--synthemo", type=Path, default=Path("runs/default-model/corpus/manifest.csv")
    )
    parser.add_argument("--work", type=Path, default=Path("runs/distill"))
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--variant", type=Path, default=VARIANT, help="TrainConfig TOML")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = tomllib.loads(args.variant.read_text())
    row = args.variant.stem
    args.work = args.work / row
    emodb = f"emodb={args.emodb}"
    plan = CrossValidationPlan(data=(emodb,), classes=FOUR_CLASS)
    report = CrossValidation(plan, [CnnRow(row, config)], args.work / "cv", jobs=args.jobs).run()
    synthetic = synthetic_to_emodb(config, args.synthemo, emodb, args.work)
    fast_file = args.models / "default-evaluation.json"
    fast = headline(json.loads(fast_file.read_text())) if fast_file.exists() else {}
    ours = headline(
        {
            "shipped": {"variant": row},
            "crossval": {"4-class": report},
            "cross_domain": {"synthemo-only -> emodb": synthetic},
        }
    )
    result = {"distilled": ours, "fast": fast, "crossval": report["summaries"]}
    (args.work / "report.json").write_text(json.dumps(result, indent=1))
    lines = [
        markdown_table(report),
        "",
        "| UA | distilled | fast | difference |",
        "| --- | --- | --- | --- |",
    ]
    for key, value in ours.items():
        if value is not None and fast.get(key) is not None:
            change = 100 * (value - fast[key])
            lines.append(f"| {key} | {value:.3f} | {fast[key]:.3f} | {change:+.1f} points |")
    (args.work / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
