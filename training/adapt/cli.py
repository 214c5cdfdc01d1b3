"""`streamser adapt`: adapt the DIDAN network from a labelled source to an unlabelled target.

Imported whenever `streamser` builds its parser, so only argparse and the Command
contract load here; torch and the training code load inside `run`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from streamser.cli.command import Command

METHODS = ("didan", "lidan", "mmd", "dann", "coral", "source-only")

DESCRIPTION = """\
Train the DIDAN regression network on a labelled source corpus while aligning its
features with an unlabelled target corpus, and write an adaptation checkpoint
that `streamser export` turns into a runtime model (metadata names source and
target). Target labels are never used for training; if the target has labels,
its UA is printed and stored as an evaluation only.

NAME=PATH is a corpus loader and its folder (emodb=data/emodb), or the value of
the `corpus` column of a manifest CSV (synthemo-flite=data/synthemo/manifest.csv).

examples:
  streamser adapt --source emodb=data/emodb --target casia=data/casia --method didan -o runs/b2c
  streamser adapt --source synthemo-espeak=data/se --target synthemo-flite=data/se --method lidan
  streamser export runs/b2c/adapt.pt -o models/b2c.onnx
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--source", required=True, metavar="NAME=PATH", help="labelled corpus")
    parser.add_argument("--target", required=True, metavar="NAME=PATH", help="unlabelled corpus")
    parser.add_argument("--method", default="didan", choices=METHODS)
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("runs/adapt"))
    parser.add_argument("--classes", help="comma list (default: the emotions both corpora have)")
    parser.add_argument("--steps", type=int, help="optimiser steps (default: 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weight", type=float, help="alignment weight (default: per method)")
    parser.add_argument("--loss", choices=["regression", "cross-entropy"], default="regression")
    parser.add_argument(
        "--ida-solver", choices=["ridge", "sparse"], default="ridge", help="didan/lidan"
    )
    parser.add_argument(
        "--class-aware",
        action="store_true",
        help="didan: class-aware IDA on target pseudo-labels after warm-up (lidan: always)",
    )
    parser.add_argument("--threads", type=int, help="torch threads")


def run(args: argparse.Namespace) -> int:
    from training.cli import _require_training_extra

    _require_training_extra("adapt")
    import torch

    from streamser.errors import StreamserError
    from training.adapt.checkpoint import AdaptCheckpoint, save_adapt_checkpoint
    from training.adapt.data import CorpusSpec, MapBank, extract_maps, shared_emotions
    from training.adapt.network import DidanConfig, DidanNet
    from training.adapt.trainer import AdaptConfig, IdaOptions, accuracy, adapt, score

    if args.threads:
        torch.set_num_threads(args.threads)
    specs = {"source": CorpusSpec.parse(args.source), "target": CorpusSpec.parse(args.target)}
    utterances = {role: spec.load() for role, spec in specs.items()}
    shared = shared_emotions(*([u.emotion for u in us] for us in utterances.values()))
    classes = tuple(args.classes.split(",")) if args.classes else shared
    if len(classes) < 2 or not set(classes) <= set(shared):
        raise StreamserError(
            f"source and target share the emotions {', '.join(shared) or 'none'}; "
            f"adaptation needs at least two of them (got {', '.join(classes) or 'none'})"
        )
    config = AdaptConfig(
        method=args.method,
        loss=args.loss,
        seed=args.seed,
        alignment_weight=args.weight,
        ida=IdaOptions(solver=args.ida_solver, class_aware=args.class_aware),
        **({"steps": args.steps} if args.steps else {}),
    )
    extractor = DidanNet(DidanConfig(classes=classes))
    banks = {}
    for role, us in utterances.items():
        kept = [u for u in us if u.emotion in classes]
        maps = extract_maps(kept, extractor.maps, extractor.min_samples)
        banks[role] = MapBank.labelled(maps, [u.emotion for u in kept], classes)
    result = adapt(config, classes, banks["source"], banks["target"])
    target_logits, target_embeddings = score(result.model, banks["target"])
    source_logits, _ = score(result.model, banks["source"])
    source_ua = accuracy(source_logits, banks["source"].labels)["ua"]
    target_ua = accuracy(target_logits, banks["target"].labels)["ua"]
    checkpoint = AdaptCheckpoint(
        adapt_config=config.to_dict(),
        model_config=result.model.config.to_dict(),
        model_state=result.model.state_dict(),
        source={"name": specs["source"].name, "utterances": len(banks["source"])},
        target={"name": specs["target"].name, "utterances": len(banks["target"])},
        history=result.history,
        target_logits=target_logits,
        target_embeddings=target_embeddings,
        metrics={
            "source_train_ua": source_ua,
            "target_ua_evaluation_only": target_ua,
        },
    )
    path = save_adapt_checkpoint(checkpoint, args.output_dir / "adapt.pt")
    print(
        f"{config.method}: {specs['source'].name} -> {specs['target'].name} on "
        f"{', '.join(classes)}: source (train) UA {source_ua:.3f}, target UA {target_ua:.3f}"
    )
    print(path)
    return 0


COMMAND = Command(
    name="adapt",
    help="adapt an emotion model from a labelled source corpus to an unlabelled target",
    configure=configure,
    run=run,
    description=DESCRIPTION,
)
