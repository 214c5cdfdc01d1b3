"""`streamser train`, `evaluate` and `export`: the offline commands of the one CLI.

Imported whenever `streamser` builds its parser, so only argparse and the Command
contract load here; torch and the training code load inside `run`, and a missing
`train` extra becomes one line that names it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from streamser.cli.command import Command
from streamser.errors import MissingExtraError
from streamser.metadata import OOD_METHODS


def _require_training_extra(command: str) -> None:
    for module in ("torch", "onnx", "onnxscript", "librosa", "sklearn", "matplotlib"):
        try:
            __import__(module)
        except ImportError as error:
            raise MissingExtraError(f"streamser {command}", "train", module) from error


def configure_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        action="append",
        metavar="SPEC",
        help="training corpus: NAME=DIR for a public corpus loader (emodb, iemocap, ravdess, "
        "casia, enterface, cremad) or a manifest CSV (repeatable)",
    )
    parser.add_argument("--config", type=Path, help="TOML file with TrainConfig fields")
    parser.add_argument("-o", "--output-dir", help="run directory (checkpoints, logs, plots)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--loss", choices=["am-softmax", "cross-entropy"])
    parser.add_argument("--no-msac", action="store_true", help="switch attribute control off")
    parser.add_argument("--threads", type=int, help="torch threads per process")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/last.pt")


def run_train(args: argparse.Namespace) -> int:
    _require_training_extra("train")
    from training.checkpoint import load_checkpoint
    from training.config import AttributeControl, TrainConfig
    from training.encoder.distill import make_trainer

    overrides = {
        "data": tuple(args.data) if args.data else None,
        "output_dir": args.output_dir,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "loss": args.loss,
        "threads": args.threads,
        "msac": AttributeControl.off() if args.no_msac else None,
    }
    if args.config:
        config = TrainConfig.from_toml(args.config, **overrides)
    else:
        config = TrainConfig(**{k: v for k, v in overrides.items() if v is not None})
    trainer = make_trainer(config)  # a [distill] table in --config: the accurate tier teaches
    if args.resume:
        trainer.resume(load_checkpoint(Path(config.output_dir) / "last.pt"))
    best = trainer.fit()
    print(best)
    return 0


def configure_evaluate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        nargs="?",
        help="checkpoint (.pt) or exported model (.onnx); with --cv, the first corpus",
    )
    parser.add_argument(
        "data",
        nargs="*",
        help="NAME=DIR or manifest CSV to evaluate on; without it, the checkpoint's own test "
        "split; with --cv, the corpora to cross-validate (every speaker is tested once)",
    )
    cv = parser.add_argument_group("speaker-independent cross-validation (--cv)")
    cv.add_argument(
        "--cv",
        choices=["loso"],
        help="train and test per fold: leave one speaker out (corpora of more than "
        "12 speakers: --folds folds by speaker); reports UA/WA mean ± std, per-class recall "
        "and confusion matrices, wideband and through a telephone channel",
    )
    cv.add_argument(
        "--classes",
        default="4",
        help="4 (neutral, happy, angry, sad), 7 (adds fear, disgust, boredom) or a comma list "
        "(default: %(default)s)",
    )
    cv.add_argument(
        "--variant",
        action="append",
        type=Path,
        metavar="TOML",
        help="an MSAC-SERNet row: TrainConfig fields in a TOML file, named after the file "
        "(repeatable; default: one row with the defaults)",
    )
    cv.add_argument(
        "--head",
        action="append",
        type=Path,
        metavar="TOML",
        help="an accurate-tier row: the frozen pretrained encoder (bin/fetch-encoder) and an "
        "AM-softmax head with HeadOptions fields from a TOML file (an empty file: the "
        "shipped settings), named after the file (repeatable)",
    )
    cv.add_argument(
        "--reference",
        default="svm,logreg",
        help="classic eGeMAPS rows, comma list of svm, logreg or none (default: %(default)s)",
    )
    cv.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="SPEC",
        help="a corpus added to every fold's training set and never tested (repeatable)",
    )
    cv.add_argument("--folds", type=int, default=5, help="folds for corpora of many speakers")
    cv.add_argument("--jobs", type=int, default=1, help="folds trained side by side")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        help="JSON report (a confusion PNG goes beside it); with --cv, the directory of fold "
        "results, report and confusion matrices (default: runs/cv/N-class)",
    )
    parser.add_argument(
        "--split-of",
        type=Path,
        metavar="CHECKPOINT",
        help="without DATA: evaluate on the test split of the run that wrote CHECKPOINT "
        "(for an ONNX model exported from it; its validation split sets ODIN's threshold)",
    )
    parser.add_argument(
        "--ood",
        nargs="+",
        metavar="SET",
        help="also measure OOD detection against these sets: unseen-emotions, non-speech "
        "(semantic shift); unseen-engine, unseen-language, telephone (covariate shift); "
        "or a manifest CSV (all OOD)",
    )
    parser.add_argument(
        "--ood-dir",
        type=Path,
        default=Path("runs/ood-sets"),
        help="where rendered OOD sets are kept and reused (default: %(default)s)",
    )
    parser.add_argument(
        "--odin-epsilon",
        type=float,
        help="checkpoints only: also score ODIN with input perturbation of this size "
        "(training.ood.odin; e.g. 1e-4)",
    )
    parser.add_argument(
        "--ood-per-class",
        type=int,
        default=8,
        help="SynthEmo items per emotion and engine in each OOD set (default: %(default)s)",
    )


def run_evaluate(args: argparse.Namespace) -> int:
    _require_training_extra("evaluate")
    from streamser.errors import StreamserError
    from training.evaluate import evaluate, print_evaluation, write_report
    from training.experiment import load_data, test_split_of
    from training.predict import EmotionPredictor

    if args.cv:
        return _cross_validate(args)
    if args.model is None:
        raise StreamserError("evaluate needs a MODEL (or --cv and the corpora to cross-validate)")
    args.model = Path(args.model)
    predictor = EmotionPredictor(args.model)
    if args.data:
        utterances = load_data(tuple(args.data))
        title = f"{args.model.name} on {', '.join(args.data)}"
    elif args.split_of or args.model.suffix == ".pt":
        run = args.split_of or args.model
        utterances = test_split_of(run)
        title = f"{args.model.name} on the held-out test split of {run.name}"
    else:
        raise StreamserError("an ONNX model needs DATA (or --split-of) to evaluate on")
    result = evaluate(predictor, utterances)
    print_evaluation(result, title)
    if args.output:
        write_report(result, args.output, title)
    if args.ood:
        _evaluate_ood(args, predictor, utterances, title)
    return 0


def _cross_validate(args: argparse.Namespace) -> int:
    import tomllib

    from streamser.errors import StreamserError
    from streamser.labels import FOUR_CLASS, SEVEN_CLASS
    from training.classic import ClassicOptions
    from training.crossval import (
        ClassicRow,
        CnnRow,
        CrossValidation,
        CrossValidationPlan,
        EncoderRow,
    )
    from training.crossval_report import (
        markdown_table,
        print_report,
        readings_table,
        selective_table,
    )
    from training.encoder.head import HeadOptions

    data = tuple(d for d in [args.model, *args.data] if d is not None)
    if not data:
        raise StreamserError("--cv needs the corpora to cross-validate (NAME=DIR or a manifest)")
    named = {"4": FOUR_CLASS, "7": SEVEN_CLASS}
    classes = named.get(args.classes) or tuple(c.strip() for c in args.classes.split(","))
    rows: list = []
    for path in args.variant or []:
        try:
            rows.append(CnnRow(path.stem, tomllib.loads(path.read_text())))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise StreamserError(f"{path}: cannot read variant ({error})") from None
    for path in args.head or []:
        try:
            rows.append(
                EncoderRow(path.stem, HeadOptions.from_dict(tomllib.loads(path.read_text())))
            )
        except (OSError, tomllib.TOMLDecodeError, TypeError, ValueError) as error:
            raise StreamserError(f"{path}: cannot read head options ({error})") from None
    if not args.variant and not args.head:
        rows.append(CnnRow("msac-sernet"))
    for kind in (k.strip() for k in args.reference.split(",")):
        if kind == "none":
            continue
        if kind not in ("svm", "logreg"):
            raise StreamserError(f"--reference {kind!r}: expected svm, logreg or none")
        rows.append(ClassicRow(f"egemaps-{kind}", ClassicOptions(kind=kind)))
    plan = CrossValidationPlan(
        data=data, extra=tuple(args.extra), classes=classes, folds=args.folds
    )
    output = args.output or Path("runs/cv") / f"{len(classes)}-class"
    report = CrossValidation(plan, rows, output, jobs=args.jobs).run()
    print_report(report)
    tables = [markdown_table(report), selective_table(report), readings_table(report)]
    (output / "crossval.md").write_text("\n\n".join(t for t in tables if t) + "\n")
    return 0


def _evaluate_ood(args: argparse.Namespace, predictor, utterances, title: str) -> None:
    from streamser.errors import StreamserError
    from training.data import AudioCache
    from training.ood.evaluate_model import (
        checkpoint_calibration,
        evaluate_exported,
        evaluate_predictor,
        run_partition,
    )
    from training.ood.report import print_ood, write_reports
    from training.ood.sets import OodSetOptions

    options = OodSetOptions(per_class=args.ood_per_class)
    if args.model.suffix == ".onnx":
        if args.odin_epsilon is not None:
            raise StreamserError("--odin-epsilon needs a checkpoint: ONNX has no input gradient")
        validation = run_partition(args.split_of)[0].validation if args.split_of else None
        evaluation = evaluate_exported(
            args.model, utterances, validation, args.ood, args.ood_dir, title, options
        )
    else:
        calibration, validation_logits = checkpoint_calibration(predictor, args.model)
        perturbed = validation_extra = None
        if args.odin_epsilon is not None:
            from functools import partial

            from training.checkpoint import load_checkpoint
            from training.ood.odin import odin_scores

            network = load_checkpoint(args.model).build_model()
            perturbed = partial(odin_scores, network, epsilon=args.odin_epsilon)
            validation = run_partition(args.model)[0].validation
            validation_extra = {"odin_perturbed": perturbed(AudioCache(validation).audio)}
        evaluation = evaluate_predictor(
            args.model.name, predictor, calibration, utterances, args.ood, args.ood_dir, title,
            options, validation_logits, perturbed, validation_extra,
        )  # fmt: skip
    print_ood(evaluation, title)
    if args.output:
        write_reports(evaluation, args.output.with_name(args.output.stem + "-ood"))


TRAIN = Command(
    name="train",
    help="train MSAC-SERNet on labelled corpora",
    configure=configure_train,
    run=run_train,
)
EVALUATE = Command(
    name="evaluate",
    help="WA/UA and confusion matrix of a checkpoint or ONNX model; --ood: OOD detection",
    configure=configure_evaluate,
    run=run_evaluate,
)


def configure_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="training checkpoint (.pt)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="ONNX model to write")
    parser.add_argument("--name", help="model name recorded in the metadata")
    parser.add_argument(
        "--ood-method",
        choices=OOD_METHODS,
        help="the OOD gate's score (default: mahalanobis; energy for `streamser adapt` "
        "checkpoints, which keep no labelled embeddings)",
    )
    parser.add_argument(
        "--ood-tpr", type=float, default=0.95, help="share of in-distribution utterances accepted"
    )


def run_export(args: argparse.Namespace) -> int:
    _require_training_extra("export")
    from training.export import export_checkpoint

    print(export_checkpoint(args.checkpoint, args.output, args.name, args.ood_method, args.ood_tpr))
    return 0


EXPORT = Command(
    name="export",
    help="export a checkpoint to a calibrated, self-describing ONNX model",
    configure=configure_export,
    run=run_export,
)
