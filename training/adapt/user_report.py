"""The section "Adapting to your own recordings" of docs/CROSS_CORPUS.md.

The commands are fixed prose; what to expect is computed from the table's runs of the
row `streamser adapt` runs by default (its unlabelled IVR task is the user's situation:
the bundled model's corpora adapted to real recordings no one labelled), and the
transcript of `training.adapt.user_flow`, when it has been run, is quoted as it printed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from training.adapt.cli import DEFAULT_FEATURES, DEFAULT_IDA_SOLVER, DEFAULT_METHOD
from training.adapt.diagnostics import agreement
from training.adapt.tasks import CLASSES, TABLE_TASKS
from training.adapt.user_flow import COST, TRANSCRIPT
from training.adapt.verdict import HEADLINE, by_key, mean_ua

USER_FLOW = """\
## Adapting to your own recordings

`streamser adapt` does not fine-tune a bundled model: it trains the DIDAN-size network
described under Protocol, from scratch, on the bundled model's labelled corpora (EmoDB
and SynthEmo, as `bin/make-default-model` uses them) while aligning its features with
your recordings, which it reads as sound only. Your recordings can be any folder (nested
folders, any format libsndfile reads, any rate); recordings over 8 s (calls) are cut
into utterances as `listen` would cut them.

{input}
    # EMODB: any EmoDB copy; SYNTHEMO: the bundled model's SynthEmo corpus
    # (bin/make-default-model makes it); RECORDINGS: your folder
    streamser adapt --source emodb=EMODB --source manifest=SYNTHEMO/manifest.csv \\
        --target RECORDINGS --method source-only -o runs/mine/source-only
    streamser adapt --source emodb=EMODB --source manifest=SYNTHEMO/manifest.csv \\
        --target RECORDINGS --seed 1 -o runs/mine/seed1
    streamser adapt --source emodb=EMODB --source manifest=SYNTHEMO/manifest.csv \\
        --target RECORDINGS -o runs/mine/seed0 \\
        --compare runs/mine/seed1/adapt.pt --compare runs/mine/source-only/adapt.pt
    streamser export runs/mine/seed0/adapt.pt -o mine.onnx
    streamser listen --model mine.onnx --format text RECORDINGS/call.wav

Checks that need no label, all printed by `streamser adapt`:

- **Agreement** (`--compare`): the share of your utterances two adaptations label
  alike. Another seed tells whether the method learned a stable rule for your
  recordings; source-only tells how far adaptation moved the labels at all.
- **Label shares and the neutral share**: recordings of ordinary calls are mostly calm;
  a model that calls most of them angry or happy, or all of them one class, has adapted
  to something other than emotion.
- **Gate coverage**: the share of your utterances that a gate calibrated on the labelled
  sources accepts, i.e. how familiar your recordings look to the adapted model. The
  exported model's own gate is calibrated on your recordings instead (it accepts the
  share `--ood-tpr` of them, 95 % by default), so `listen` on the same recordings says
  nothing more about this; on new recordings its `uncertain` share does.
"""

INPUTS = {
    "encoder": """\
By default (`--features encoder`, the input the development rule chose under "Encoder
features") the network reads the frozen encoder's second-layer vectors (described there):
the encoder is fetched on first use (`bin/fetch-encoder` fetches it ahead), the vectors
are cached under `runs/embeddings/`, and the model `streamser export` writes holds the
front end and the encoder's first two layers, as the accurate tier's file holds its
first, followed by the adapted layers and their own gate: each utterance costs an
encoder run, as with the accurate tier (measured at the end of this section).
`--features log-mel` trains the smaller network on pooled log-mel maps instead: its own
front end and no encoder, so a smaller and cheaper file, on the input that scored lower
on the development tasks. The bundled models stay as they are.
""",
    "log-mel": """\
By default (`--features log-mel`) the network reads pooled log-mel maps, and the model
`streamser export` writes is that small network with its own front end and gate;
`--features encoder` reads the frozen encoder's vectors instead. The bundled models
stay as they are.
""",
}
"""What the default input means for the user, per `training.adapt.cli.DEFAULT_FEATURES`."""


def default_row() -> str:
    """The table row `streamser adapt` runs with its default options."""
    if DEFAULT_METHOD == "didan":
        return "didan-sparse" if DEFAULT_IDA_SOLVER == "sparse" else "didan"
    return DEFAULT_METHOD


def pairwise(runs: Sequence[dict], others: Sequence[dict] | None = None) -> float:
    """Mean agreement between the runs (seed pairs), or between each run and the other
    row's run of the same seed."""
    onehot = [np.eye(len(CLASSES))[r["predicted"]] for r in runs]
    if others is None:
        pairs = [agreement(a, b) for i, a in enumerate(onehot) for b in onehot[i + 1 :]]
    else:
        theirs = {r["seed"]: np.eye(len(CLASSES))[r["predicted"]] for r in others}
        pairs = [
            agreement(a, theirs[r["seed"]])
            for r, a in zip(runs, onehot, strict=True)
            if r["seed"] in theirs
        ]
    return 100 * float(np.mean(pairs)) if pairs else float("nan")


def expectations(table: Sequence[dict], features: str = DEFAULT_FEATURES) -> str:
    """What the default row did in the table of the default input (`features`): accuracy
    on real voices it never heard, and the label-free checks on the IVR prompts (real
    recordings no one labelled)."""
    row = default_row()
    ivr = next(t.name for t in TABLE_TASKS if not t.labelled)
    data = by_key(table)
    runs = list(data.get((ivr, row), {}).values())
    alone = list(data.get((ivr, "source-only"), {}).values())
    ua, seeds = mean_ua(table, HEADLINE, row)
    reference, _ = mean_ua(table, HEADLINE, "source-only")
    if not runs or not seeds:
        return "What to expect: the table has not been run for the default row yet.\n"

    def share(key: str, rs: Sequence[dict]) -> str:
        return f"{100 * np.mean([r[key] for r in rs]):.0f} %"

    return (
        f"What to expect, from the table's runs of the default row (**{row}**, "
        f"{features} features, {len(runs)} seeds):\n\n"
        f"- Trained on synthetic speech and scored on real actors it never heard (SynthEmo "
        f"→ EmoDB), it reached {ua:.1f} % UAR over "
        f"four classes (chance: {100 / len(CLASSES):.0f} %), against {reference:.1f} % "
        f"for source-only: expect many wrong labels on your recordings too.\n"
        f"- On the IVR prompts (SynthEmo + EmoDB → five languages of calm telephone "
        f"prompts): neutral {share('neutral', runs)} (source-only "
        f"{share('neutral', alone) if alone else 'n/a'}); accepted by the source-calibrated "
        f"gate {100 - 100 * np.mean([r['uncertain'] for r in runs]):.0f} % (source-only "
        f"{(100 - 100 * np.mean([r['uncertain'] for r in alone])) if alone else 0:.0f} %); "
        f"agreement between seeds {pairwise(runs):.0f} %, with source-only of the same "
        f"seed {pairwise(runs, alone):.0f} %.\n" + coverage_note(runs, alone)
    )


def coverage_note(runs: Sequence[dict], alone: Sequence[dict]) -> str:
    """How to read a low source-gate coverage after adapting with the default row."""
    if not alone:
        return ""
    mine = 1 - np.mean([r["uncertain"] for r in runs])
    theirs = 1 - np.mean([r["uncertain"] for r in alone])
    if mine >= theirs:
        return ""
    return (
        "- The default row's source-calibrated gate accepted fewer IVR prompts than "
        "source-only's: adapting moves the target's outputs away from the source's, so a "
        "low coverage after adaptation is what this method does, not by itself a failure; "
        "compare it with your own source-only run.\n"
    )


def transcript(work: Path) -> str:
    """The user flow as run by `training.adapt.user_flow`, if it was."""
    path = work / TRANSCRIPT
    if not path.exists():
        return (
            "The flow above has not been run where this file was generated "
            "(`python -m training.adapt.user_flow` runs it and records its output).\n"
        )
    body = "\n".join("    " + line for line in path.read_text().splitlines())
    return (
        "The flow as run where this file was generated, on a folder of Debian "
        "`asterisk-core-sounds-en-wav` prompts (one professional speaker, calm), by\n"
        "`python -m training.adapt.user_flow --emodb EMODB --synthemo SYNTHEMO "
        "--recordings RECORDINGS`; everything below is what the commands printed:\n\n"
        f"{body}\n\n"
        "The adapted network is trained as a regression onto one-hot targets, so the "
        "scores `listen` prints for its model lie close together: read its ranking, not "
        "the size of its top score, and do not compare that score with the bundled "
        "model's.\n"
    )


def cost(work: Path) -> str:
    """What the exported model of the flow costs, as `bin/bench` measured it, if it did."""
    path = work / COST
    if not path.exists():
        return ""
    data = json.loads(path.read_text())
    report = data["report"]
    model, machine = report["model"], report["machine"]
    times = ", ".join(
        f"{v['p50']:.0f} ms at {length.removesuffix('s')} s (p95 {v['p95']:.0f})"
        for length, v in report["inference_ms"].items()
    )
    before, after = data["load_average"]
    rtf = report["realtime_factor"]
    return (
        f"What the exported model costs, measured after the flow by `{data['command']}`: "
        f"{model['file_mb']:.1f} MB; inference per utterance, one thread, median {times}; "
        f"`listen` over a {rtf['audio_s'] / 60:.0f}-minute file at {rtf['rtf']:.3f} x real "
        f"time; {model['threads']} thread on a {machine['cores']}-core "
        f"{machine['cpu']}, one-minute load average {before:.1f} before and {after:.1f} "
        "after (the machine was shared: on an idle one the times are lower, see "
        "docs/BENCHMARKS.md for the bundled tiers).\n"
    )


def user_section(tables: dict[str, Sequence[dict]], work: Path) -> str:
    """`tables`: each input's table runs; the default input's give the expectations."""
    parts = [
        USER_FLOW.format(input=INPUTS[DEFAULT_FEATURES]),
        expectations(tables.get(DEFAULT_FEATURES, [])),
        transcript(work),
        cost(work),
    ]
    return "\n".join(p for p in parts if p)
