"""`bin/cross-corpus`: the cross-corpus protocol's runs, then docs/CROSS_CORPUS.md.

Runs the table's tasks (`training.adapt.experiment`) on the SynthEmo corpora, and on
EmoDB, eNTERFACE and CASIA when all three are given, then writes the report
(`training.adapt.report`) with the development grid's results
(`training.adapt.develop`) beside them.

    python -m training.adapt.cross_corpus --work runs/cross-corpus --report-only
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from training.adapt.data import CorpusSpec
from training.adapt.develop import RESULTS_FILE
from training.adapt.experiment import (
    REAL_CORPORA,
    SEEDS,
    SYNTHEMO_CORPORA,
    TABLE_METHODS,
    current_rows,
    ensure_synthemo,
    read_results,
    run_protocol,
)
from training.adapt.report import write_report
from training.adapt.trainer import AdaptConfig


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Cross-corpus protocol (six tasks x methods x seeds) and docs/CROSS_CORPUS.md"
    )
    parser.add_argument("--work", type=Path, default=Path("runs/cross-corpus"))
    parser.add_argument("--doc", type=Path, default=Path("docs/CROSS_CORPUS.md"))
    parser.add_argument("--per-class", type=int, default=150, help="SynthEmo files per emotion")
    parser.add_argument("--emodb", type=Path, help="EmoDB folder (B)")
    parser.add_argument("--enterface", type=Path, help="eNTERFACE'05 folder (E)")
    parser.add_argument("--casia", type=Path, help="CASIA folder (C)")
    parser.add_argument(
        "--methods",
        default=",".join(TABLE_METHODS),
        help="table rows; the DIDAN variants (didan-sparse, didan-class) run at DIDAN's weight",
    )
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--steps", type=int, default=AdaptConfig.steps)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--report-only", action="store_true", help="rewrite the doc from results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    methods = args.methods.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    base = AdaptConfig(steps=args.steps)
    protocols = {}
    manifest = args.work / "synthemo" / "manifest.csv"
    if not args.report_only:
        manifest = ensure_synthemo(args.work / "synthemo", args.per_class, args.workers)
    protocols["synthemo"] = {
        code: CorpusSpec(name, manifest) for code, name in SYNTHEMO_CORPORA.items()
    }
    real = {"B": args.emodb, "E": args.enterface, "C": args.casia}
    if all(real.values()):
        protocols["bec"] = {
            code: CorpusSpec(REAL_CORPORA[code], path) for code, path in real.items()
        }
    elif any(real.values()):
        parser.error("the B/E/C protocol needs --emodb, --enterface and --casia together")
    results = {}
    for name, corpora in protocols.items():
        path = args.work / f"{name}.jsonl"
        if not args.report_only:
            run_protocol(corpora, path, base, methods, seeds, args.work / "cache", args.workers)
        rows = current_rows(read_results(path), base)
        rows = [r for r in rows if r["method"] in methods and r["seed"] in seeds]
        results[name] = sorted(rows, key=lambda r: methods.index(r["method"]))
    write_report(results, args.doc, base, read_results(args.work / RESULTS_FILE))
    print(args.doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
