"""`streamser synth`: generate a SynthEmo corpus, or (re)print a corpus's sanity report.

This module is imported whenever `streamser` builds its parser, so it imports only
argparse and the `Command` contract at module level; the generator, numpy and rich
load inside `run`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from streamser.cli.command import Command

if TYPE_CHECKING:
    from training.synthemo.plan import SynthOptions

DESCRIPTION = """\
Generate synthetic emotional speech corpora with espeak-ng, flite and festival
(and SVOX pico, on request). Each engine makes one corpus (synthemo-espeak,
synthemo-flite, synthemo-festival, synthemo-pico);
emotions are rendered by published prosody rules with per-utterance jitter.
Writes 16 kHz mono 16-bit WAVs, manifest.csv and report.json into the output
directory; rerunning with the same arguments resumes an interrupted run.

examples:
  streamser synth -o data/synthemo --per-class 50
  streamser synth -o data/se --engines espeak-ng --languages en,de --conditions clean,noise:10
  streamser synth --report data/synthemo
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    target = parser.add_argument_group("what to do (one of)")
    target.add_argument(
        "-o", "--output", metavar="DIR", help="corpus directory to create or resume"
    )
    target.add_argument(
        "--report", metavar="DIR", help="measure an existing corpus and print its sanity report"
    )
    corpus = parser.add_argument_group("corpus")
    corpus.add_argument(
        "--engines",
        metavar="LIST",
        help="comma list of espeak-ng, flite, festival, pico (default: the first three)",
    )
    corpus.add_argument(
        "--emotions",
        metavar="LIST",
        help="comma list (default: neutral,happy,angry,sad,fear,disgust,surprise,boredom); "
        "'four' for neutral,happy,angry,sad",
    )
    corpus.add_argument(
        "--per-class",
        metavar="N",
        help="files per emotion, per condition, per engine and language (default: 20)",
    )
    corpus.add_argument("--count", metavar="N", help="total number of files, split evenly")
    corpus.add_argument(
        "--languages",
        metavar="LIST",
        help="comma list of en, de, es (default: en; de/es: espeak-ng)",
    )
    corpus.add_argument(
        "--conditions",
        metavar="LIST",
        help="comma list of clean, noise:SNR_DB[:white|pink], reverb, telephone (default: clean)",
    )
    corpus.add_argument("--seed", metavar="N", help="random seed (default: 0)")
    parser.add_argument("--jobs", metavar="N", help="worker processes (default: all cores)")


def _int(value: str | None, name: str, default: int | None, minimum: int) -> int | None:
    from training.synthemo.errors import SynthOptionsError

    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SynthOptionsError(f"{name} expects a whole number, got {value!r}") from None
    if number < minimum:
        raise SynthOptionsError(f"{name} must be at least {minimum}, got {number}")
    return number


def _list(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


def options_from_args(args: argparse.Namespace) -> SynthOptions:
    """The `SynthOptions` the arguments describe (raises `SynthOptionsError` if none)."""
    from streamser.labels import FOUR_CLASS
    from training.synthemo.conditions import Condition
    from training.synthemo.plan import SynthOptions

    fields: dict[str, object] = {}
    for name in ("engines", "emotions", "languages"):
        values = _list(getattr(args, name))
        if values is not None:
            fields[name] = FOUR_CLASS if values == ("four",) else values
    conditions = _list(args.conditions)
    if conditions is not None:
        fields["conditions"] = tuple(Condition.parse(c) for c in conditions)
    fields["per_class"] = _int(args.per_class, "--per-class", None, 1)
    fields["count"] = _int(args.count, "--count", None, 1)
    fields["seed"] = _int(args.seed, "--seed", 0, 0)
    return SynthOptions(**fields)  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from training.synthemo.errors import SynthOptionsError
    from training.synthemo.generate import check_engines, check_output_dir, generate
    from training.synthemo.report import analyse_corpus, check_corpus
    from training.synthemo.table import print_report, progress_bar

    console = Console(stderr=True)
    workers = _int(args.jobs, "--jobs", os.cpu_count() or 1, 1)
    assert workers is not None
    if (args.output is None) == (args.report is None):
        raise SynthOptionsError("give -o DIR to generate or --report DIR to measure, not both")
    if args.report is not None:
        corpus_args = (
            "engines",
            "emotions",
            "per_class",
            "count",
            "languages",
            "conditions",
            "seed",
        )
        given = [f"--{a.replace('_', '-')}" for a in corpus_args if getattr(args, a) is not None]
        if given:
            raise SynthOptionsError(
                f"--report measures an existing corpus; drop {', '.join(given)}"
            )
        root = Path(args.report)
        check_corpus(root)
    else:
        options = options_from_args(args)
        root = Path(args.output)
        # Every user error surfaces here, before a progress bar is on screen.
        check_engines(options)
        check_output_dir(root, options)
        with progress_bar(console, "synthesising") as update:
            result = generate(options, root, workers, update)
        console.print(
            f"{result.planned} files in {root} ({result.written} written, "
            f"{result.skipped} already there); manifest: {result.manifest.name}"
        )
    with progress_bar(console, "measuring") as update:
        report = analyse_corpus(root, workers, update)
    print_report(report, Console())
    return 0


COMMAND = Command(
    name="synth",
    help="generate a synthetic emotional speech corpus (SynthEmo) or print its report",
    description=DESCRIPTION,
    configure=configure,
    run=run,
)
