"""`streamser adapt`: adapt the DIDAN network from a labelled source to an unlabelled target.

Imported whenever `streamser` builds its parser, so only argparse and the Command
contract load here; torch and the training code load inside `run`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from streamser.cli.command import Command

METHODS = ("didan", "lidan", "mmd", "dann", "coral", "source-only")
DEFAULT_METHOD = "didan"
DEFAULT_IDA_SOLVER = "sparse"
FEATURES = ("log-mel", "encoder")
"""`training.adapt.network.FEATURES`, without importing torch (a test keeps them equal)."""
DEFAULT_FEATURES = "encoder"
"""The defaults are the row with the highest mean development UAR at its chosen weight,
and the input whose best row scores higher on the development tasks (docs/CROSS_CORPUS.md
checks both against the development results)."""

DESCRIPTION = """\
Train the DIDAN-size network on labelled source corpora while aligning its features
with unlabelled target recordings, and write an adaptation checkpoint that
`streamser export` turns into a runtime model (metadata names source and target).
No target label is read: the target is sound only, the class set comes from the
sources, and the exported gate is calibrated on every target utterance.

--source NAME=PATH (repeatable) is a corpus loader and its folder (emodb=data/emodb),
the value of the `corpus` column of a manifest CSV (synthemo-flite=data/se), or
manifest=PATH for every row of a manifest.
--target is a folder of recordings (nested folders, any format and rate; recordings
longer than 8 s are cut into utterances as `listen` would), a CSV with a `path`
column, or NAME=PATH to name it (on a manifest: the rows of corpus NAME).

The network reads the frozen encoder's vectors by default (--features encoder: its
second layer; bin/fetch-encoder fetches the encoder, or the first run does), cached
under --embeddings; `streamser export` writes one model file holding the encoder's first
two layers, as the accurate tier's file holds its first. --features log-mel trains the
smaller network on pooled log-mel maps instead (its own front end, no encoder, a weaker
input on the development tasks; docs/CROSS_CORPUS.md).

After training it prints label-free checks: the target's label shares, the share a
gate calibrated on the source accepts, the share labelled neutral or uncertain, and
with --compare the agreement with other adaptations of the same target.

examples:
  streamser adapt --source emodb=data/emodb --source manifest=data/synthemo \\
      --target recordings/ --classes neutral,happy,angry,sad -o runs/mine
  streamser adapt --source synthemo-espeak=data/se --target synthemo-flite=data/se
  streamser export runs/mine/adapt.pt -o mine.onnx
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--source", required=True, action="append", metavar="NAME=PATH", help="labelled corpus"
    )
    parser.add_argument(
        "--target", required=True, metavar="DIR|CSV|NAME=PATH", help="unlabelled recordings"
    )
    parser.add_argument("--method", default=DEFAULT_METHOD, choices=METHODS)
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("runs/adapt"))
    parser.add_argument(
        "--classes", help="comma list (default: the emotions every source corpus has)"
    )
    parser.add_argument("--steps", type=int, help="optimiser steps (default: 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weight", type=float, help="alignment weight (default: per method)")
    parser.add_argument("--loss", choices=["regression", "cross-entropy"], default="regression")
    parser.add_argument(
        "--ida-solver",
        choices=["ridge", "sparse"],
        default=DEFAULT_IDA_SOLVER,
        help="didan/lidan: dense (ridge) or sparse (FISTA) reconstruction",
    )
    parser.add_argument(
        "--class-aware",
        action="store_true",
        help="didan: class-aware IDA on target pseudo-labels after warm-up (lidan: always)",
    )
    parser.add_argument(
        "--features",
        choices=FEATURES,
        default=DEFAULT_FEATURES,
        help="the network's input: the frozen encoder's vectors (default; bin/fetch-encoder; "
        "the exported model holds the encoder), or pooled log-mel maps",
    )
    parser.add_argument(
        "--embeddings",
        type=Path,
        metavar="DIR",
        help="with --features encoder: where encoder vectors are cached (default: runs/embeddings)",
    )
    parser.add_argument("--threads", type=int, help="torch threads")
    parser.add_argument(
        "--compare",
        type=Path,
        action="append",
        metavar="ADAPT_PT",
        help="print the share of target utterances labelled as this other adaptation of "
        "the same target labels them (another seed, or --method source-only)",
    )


def run(args: argparse.Namespace) -> int:
    from training.cli import _require_training_extra

    _require_training_extra("adapt")
    import torch

    from training.adapt.data import CorpusSpec
    from training.adapt.targets import TargetSpec
    from training.adapt.trainer import AdaptConfig, IdaOptions
    from training.adapt.workflow import compare, describe, run_adaptation

    if args.threads:
        torch.set_num_threads(args.threads)
    sources = [CorpusSpec.parse(text) for text in args.source]
    target = TargetSpec.parse(args.target)
    config = AdaptConfig(
        method=args.method,
        loss=args.loss,
        seed=args.seed,
        alignment_weight=args.weight,
        ida=IdaOptions(solver=args.ida_solver, class_aware=args.class_aware),
        features=args.features,
        **({"steps": args.steps} if args.steps else {}),
    )
    classes = args.classes.split(",") if args.classes else None
    path = args.output_dir / "adapt.pt"
    inputs = {"embeddings": args.embeddings} if args.embeddings else {}
    checkpoint = run_adaptation(sources, target, config, path, classes, **inputs)
    print(describe(checkpoint, checkpoint.model_config["classes"]))
    for other in args.compare or ():
        print(compare(checkpoint, other))
    print(path)
    return 0


COMMAND = Command(
    name="adapt",
    help="adapt an emotion model from a labelled source corpus to an unlabelled target",
    configure=configure,
    run=run,
    description=DESCRIPTION,
)
