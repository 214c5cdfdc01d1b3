"""`bin/cross-corpus`: the cross-corpus protocol on real speech, then docs/CROSS_CORPUS.md.

Stages, each resumable (finished runs are kept in JSON Lines files under --work):

1. caches: pooled log-mel maps of SynthEmo, EmoDB and the Asterisk IVR prompts (with
   `--features encoder`, their frozen encoder vectors, `training.adapt.features`);
2. development (`training.adapt.develop`): the pilot, then every aligned row's weight
   grid on the development tasks, and the weights the rule chooses from them;
3. table: every row at its chosen weight on the table tasks, over the seeds;
4. report (`training.adapt.report`): the document, generated from the two results files.

    python -m training.adapt.cross_corpus --emodb DIR [--synthemo DIR] [--stage report]
    python -m training.adapt.cross_corpus --features encoder --emodb DIR --synthemo DIR

The encoder-feature protocol is the same stages with the network reading encoder
vectors; its runs go to their own folder (`--encoder-work`), and the report gives them
a section of their own.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from training.adapt.develop import (
    DEVELOPMENT_SEEDS,
    centres,
    chosen_weights,
    development_jobs,
    pilot_jobs,
)
from training.adapt.experiment import (
    ALIGNED,
    CONTROLS,
    SEEDS,
    config_for,
    job,
    read_results,
    run_jobs,
)
from training.adapt.network import FEATURES
from training.adapt.tasks import TABLE_TASKS, cache_corpus, ensure_synthemo
from training.adapt.trainer import AdaptConfig

log = logging.getLogger(__name__)

TABLE_ROWS = (*CONTROLS, *(r for r in ALIGNED if r != "didan-absolute"))
"""The table's rows; `didan-absolute` (the first reading of IDA) runs on the development
tasks only, where it shows its collapse."""
WORK = {"log-mel": Path("runs/cross-corpus"), "encoder": Path("runs/cross-corpus-encoder")}
"""Each input's results folder."""
DEVELOPMENT_FILE = "development.jsonl"
TABLE_FILE = "table.jsonl"
STAGES = ("all", "development", "table", "report")


def table_jobs(
    caches: dict[str, Path],
    base: AdaptConfig,
    weights: dict[str, float],
    rows: Sequence[str],
    seeds: Sequence[int],
    tasks=TABLE_TASKS,
) -> list[dict]:
    jobs = []
    for seed in seeds:
        for task in tasks:
            for row in rows:
                if row in CONTROLS or row in weights:
                    config = config_for(row, base, seed, weights.get(row, 0.0))
                    jobs.append(job(task, row, config, caches))
                else:
                    log.warning("%s: no development weight, left out of the table", row)
    return jobs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--emodb", type=Path, help="an EmoDB folder (any copy)")
    parser.add_argument(
        "--synthemo", type=Path, help="a SynthEmo corpus folder (default: made under --work)"
    )
    parser.add_argument(
        "--features",
        choices=FEATURES,
        default="log-mel",
        help="the network's input for the runs of this call (the report covers both)",
    )
    parser.add_argument("--work", type=Path, default=WORK["log-mel"])
    parser.add_argument("--encoder-work", type=Path, default=WORK["encoder"])
    parser.add_argument(
        "--embeddings",
        type=Path,
        help="encoder vector cache (default: ENCODER_WORK/embeddings)",
    )
    parser.add_argument("--doc", type=Path, default=Path("docs/CROSS_CORPUS.md"))
    parser.add_argument("--stage", choices=STAGES, default="all")
    parser.add_argument("--rows", default=",".join(TABLE_ROWS))
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--development-seeds", default=",".join(map(str, DEVELOPMENT_SEEDS)))
    parser.add_argument("--steps", type=int, default=AdaptConfig.steps)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    base = AdaptConfig(steps=args.steps)
    rows = args.rows.split(",")
    work = args.work if args.features == "log-mel" else args.encoder_work
    run_base = replace(base, features=args.features)
    development_file = work / DEVELOPMENT_FILE
    table_file = work / TABLE_FILE
    if args.stage != "report":
        if args.emodb is None:
            parser.error("--emodb DIR is needed to run (not for --stage report)")
        synthemo = args.synthemo or ensure_synthemo(args.work / "synthemo", args.workers)
        cache = work / "cache"
        inputs = {
            "features": args.features,
            "embeddings": args.embeddings or args.encoder_work / "embeddings",
        }
        caches = {
            "synthemo": cache_corpus("synthemo", synthemo, cache, **inputs),
            "emodb": cache_corpus("emodb", args.emodb, cache, **inputs),
        }
        tasks = TABLE_TASKS
        try:
            caches["ivr"] = cache_corpus("ivr", None, cache, **inputs)
        except Exception as error:  # the Debian packages are not installed
            log.warning("IVR prompts unavailable (%s): that task is not run", error)
            tasks = tuple(t for t in TABLE_TASKS if t.target != "ivr")
        if args.stage in ("all", "development"):
            pilot = run_jobs(pilot_jobs(caches, run_base), development_file, args.workers)
            seeds = [int(s) for s in args.development_seeds.split(",")]
            jobs = development_jobs(caches, run_base, centres(pilot), seeds)
            development = run_jobs(jobs, development_file, args.workers)
            log.info("chosen weights: %s", chosen_weights(development))
        if args.stage in ("all", "table"):
            weights = chosen_weights(read_results(development_file))
            seeds = [int(s) for s in args.seeds.split(",")]
            jobs = table_jobs(caches, run_base, weights, rows, seeds, tasks)
            run_jobs(jobs, table_file, args.workers)
    from training.adapt.report import write_report

    encoder = {
        "development": read_results(args.encoder_work / DEVELOPMENT_FILE),
        "table": read_results(args.encoder_work / TABLE_FILE),
    }
    write_report(
        read_results(args.work / DEVELOPMENT_FILE),
        read_results(args.work / TABLE_FILE),
        args.doc,
        base,
        rows,
        args.work,
        encoder=encoder,
    )
    print(args.doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
