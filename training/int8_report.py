"""`bin/quantise`: the int8 rule's report for the bundled fast model, on its own.

`bin/make-default-model` quantises the model it trains and ships the int8 copy when
`training.quantise.check` passes; this re-runs that check on a float export (the
recipe keeps it at `runs/default-model/float.onnx`), for example with 8-bit weights
(`--full-range`), and writes the report without touching `models/`.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from streamser.labels import FOUR_CLASS
from training.data import AudioCache
from training.default_model import VALIDATION_SPEAKERS
from training.experiment import load_data
from training.quantise import calibration_sample, check, quantise


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bin/quantise", description=__doc__.split("\n\n")[0])
    parser.add_argument("--emodb", required=True, help="the EmoDB folder")
    parser.add_argument("--model", default="runs/default-model/float.onnx", help="the float model")
    parser.add_argument("--synthemo", default="runs/default-model/corpus/manifest.csv")
    parser.add_argument(
        "--cv-row",
        default="runs/default-model/cv/4-class/msac-speaker-norm",
        help="a cross-validation row of the model's recipe (foldNN/best.pt)",
    )
    parser.add_argument("--work", default="runs/quantise", help="output folder")
    parser.add_argument(
        "--full-range", action="store_true",
        help="8-bit weights (faster and closer on CPUs with VNNI; may saturate on others)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    reduce_range = not args.full_range
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    # The bundled model's training audio: SynthEmo and the EmoDB speakers it trained on.
    training = [u for u in load_data((f"emodb={args.emodb}", args.synthemo))
                if u.emotion in FOUR_CLASS and u.speaker not in VALIDATION_SPEAKERS]  # fmt: skip
    int8 = quantise(Path(args.model), work / "default-int8.onnx",
                    calibration_sample(AudioCache(training).audio), reduce_range)  # fmt: skip
    report = check(Path(args.model), int8, Path(args.emodb), Path(args.cv_row),
                   Path(args.synthemo), work, reduce_range)  # fmt: skip
    (work / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "emodb_loso"}, indent=2))
    print(json.dumps({k: v for k, v in report["emodb_loso"].items() if k != "folds"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
