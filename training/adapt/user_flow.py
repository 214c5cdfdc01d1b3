"""The user's flow of docs/CROSS_CORPUS.md, run for real; its transcript goes in the report.

Adapts the bundled model's corpora (EmoDB and SynthEmo, labelled) to a folder of
unlabelled recordings as a user would: `--method source-only`, then the default method
with seeds 1 and 0, the last compared with the other two (`--compare`, no label needed);
exports the seed-0 model and listens to a few of the recordings with it and with the
bundled model. Every command runs as typed (`streamser ...`, in a subprocess); the
transcript holds each command, with folders written as placeholders, and what it printed.
Then `bin/bench` measures what the exported model costs per utterance (`COST`, with the
load average around the measurement: the machine may be busy).

    python -m training.adapt.user_flow --emodb DIR --synthemo DIR --recordings DIR
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from training.adapt.targets import TargetSpec

log = logging.getLogger(__name__)

TRANSCRIPT = "user-flow.txt"
COST = "user-flow-cost.json"
BENCH = Path(__file__).resolve().parents[2] / "bin" / "bench"
BENCH_OPTIONS = ("--no-baseline", "--no-tui", "--reps", "30", "--long-minutes", "1")
BENCH_OPTIONS += ("--latency-seconds", "20")
"""A shorter bench than docs/BENCHMARKS.md's: the per-utterance cost is what is quoted."""
LISTENED = 2
"""Recordings listened to (the longest of the folder)."""


def flow(
    emodb: Path, synthemo: Path, recordings: Path, out: Path, listened: Sequence[Path]
) -> list[list[str]]:
    """The commands, in order, as argument lists after `streamser`."""
    adapt = [
        "adapt",
        "--source",
        f"emodb={emodb}",
        "--source",
        f"manifest={synthemo / 'manifest.csv'}",
        "--target",
        str(recordings),
    ]
    steps = [
        [*adapt, "--method", "source-only", "-o", str(out / "source-only")],
        [*adapt, "--seed", "1", "-o", str(out / "seed1")],
        [
            *adapt,
            "-o",
            str(out / "seed0"),
            "--compare",
            str(out / "seed1" / "adapt.pt"),
            "--compare",
            str(out / "source-only" / "adapt.pt"),
        ],
        ["export", str(out / "seed0" / "adapt.pt"), "-o", str(out / "mine.onnx")],
    ]
    for path in listened:
        for model in (str(out / "mine.onnx"), "fast"):
            steps.append(["listen", "--model", model, "--format", "text", str(path)])
    return steps


def longest(recordings: Path, count: int) -> list[Path]:
    """The `count` largest files of the target folder (largest first)."""
    files = TargetSpec.parse(str(recordings)).files()
    return sorted(files, key=lambda p: (-p.stat().st_size, str(p)))[:count]


def placeholders(text: str, names: dict[Path, str]) -> str:
    """Folders written as their placeholders (as given and resolved), longest first."""
    pairs = []
    for path, name in names.items():
        pairs += [(str(path.resolve()), name), (str(path), name)]
    for found, name in sorted(pairs, key=lambda p: -len(p[0])):
        text = text.replace(found, name)
    return text


def run_flow(emodb: Path, synthemo: Path, recordings: Path, work: Path, threads: int = 1) -> Path:
    """Runs every command, stops at the first that fails; writes and returns the transcript."""
    out = work / "user-flow"
    names = {emodb: "EMODB", synthemo: "SYNTHEMO", recordings: "RECORDINGS"}
    lines = []
    for command in flow(emodb, synthemo, recordings, out, longest(recordings, LISTENED)):
        if command[0] in ("adapt", "listen"):
            command = [*command, "--threads", str(threads)]
        log.info("streamser %s", " ".join(command))
        done = subprocess.run(
            [sys.executable, "-m", "streamser", *command], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"streamser {' '.join(command)} failed:\n{done.stderr}")
        lines.append("$ streamser " + " ".join(command))
        lines += [line for line in done.stdout.splitlines() if line.strip()]
    path = work / TRANSCRIPT
    path.write_text(placeholders("\n".join(lines), names) + "\n")
    cost = measure_cost(out / "mine.onnx")
    (work / COST).write_text(placeholders(json.dumps(cost, indent=1), names) + "\n")
    return path


def measure_cost(model: Path) -> dict:
    """`bin/bench --model MODEL` (`BENCH_OPTIONS`): its report, the command (model as a
    placeholder) and the one-minute load average before and after it."""
    before = os.getloadavg()[0]
    command = [sys.executable, str(BENCH), "--model", str(model), *BENCH_OPTIONS]
    log.info("%s", " ".join(command[1:]))
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bin/bench failed:\n{done.stderr}")
    return {
        "command": " ".join(["bin/bench", "--model", "mine.onnx", *BENCH_OPTIONS]),
        "load_average": [round(before, 2), round(os.getloadavg()[0], 2)],
        "report": json.loads(done.stdout),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--emodb", type=Path, required=True, help="an EmoDB folder")
    parser.add_argument("--synthemo", type=Path, required=True, help="a SynthEmo corpus folder")
    parser.add_argument("--recordings", type=Path, required=True, help="unlabelled recordings")
    parser.add_argument("--work", type=Path, default=Path("runs/cross-corpus"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print(run_flow(args.emodb, args.synthemo, args.recordings, args.work, args.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
