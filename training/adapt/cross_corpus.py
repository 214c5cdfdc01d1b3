"""`bin/cross-corpus`: the cross-corpus protocol on real speech, then docs/CROSS_CORPUS.md.

Stages, each resumable (finished runs are kept in JSON Lines files under --work):

1. caches: pooled log-mel maps of SynthEmo, EmoDB and the Asterisk IVR prompts;
2. development (`training.adapt.develop`): the pilot, then every aligned row's weight
   grid on the development tasks, and the weights the rule chooses from them;
3. table: every row at its chosen weight on the table tasks, over the seeds;
4. report (`training.adapt.report`): the document, generated from the two results files.

    python -m training.adapt.cross_corpus --emodb DIR [--synthemo DIR] [--stage report]
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
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
from training.adapt.tasks import TABLE_TASKS, cache_corpus, ensure_synthemo
from training.adapt.trainer import AdaptConfig

log = logging.getLogger(__name__)

TABLE_ROWS = (*CONTROLS, *(r for r in ALIGNED if r != "didan-absolute"))
"""The table's rows; `didan-absolute` (the first reading of IDA) runs on the development
tasks only, where it shows its collapse."""
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
    parser.add_argument("--work", type=Path, default=Path("runs/cross-corpus"))
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
    development_file = args.work / DEVELOPMENT_FILE
    table_file = args.work / TABLE_FILE
    if args.stage != "report":
        if args.emodb is None:
            parser.error("--emodb DIR is needed to run (not for --stage report)")
        synthemo = args.synthemo or ensure_synthemo(args.work / "synthemo", args.workers)
        cache = args.work / "cache"
        caches = {
            "synthemo": cache_corpus("synthemo", synthemo, cache),
            "emodb": cache_corpus("emodb", args.emodb, cache),
        }
        tasks = TABLE_TASKS
        try:
            caches["ivr"] = cache_corpus("ivr", None, cache)
        except Exception as error:  # the Debian packages are not installed
            log.warning("IVR prompts unavailable (%s): that task is not run", error)
            tasks = tuple(t for t in TABLE_TASKS if t.target != "ivr")
        if args.stage in ("all", "development"):
            pilot = run_jobs(pilot_jobs(caches, base), development_file, args.workers)
            seeds = [int(s) for s in args.development_seeds.split(",")]
            jobs = development_jobs(caches, base, centres(pilot), seeds)
            development = run_jobs(jobs, development_file, args.workers)
            log.info("chosen weights: %s", chosen_weights(development))
        if args.stage in ("all", "table"):
            weights = chosen_weights(read_results(development_file))
            seeds = [int(s) for s in args.seeds.split(",")]
            jobs = table_jobs(caches, base, weights, rows, seeds, tasks)
            run_jobs(jobs, table_file, args.workers)
    from training.adapt.report import write_report

    write_report(
        read_results(development_file), read_results(table_file), args.doc, base, rows, args.work
    )
    print(args.doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
