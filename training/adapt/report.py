"""docs/CROSS_CORPUS.md, generated from the results files `bin/cross-corpus` writes.

Every number in the document is computed here from `development.jsonl` and `table.jsonl`
(or from the settings in code); the prose around them is fixed and holds none.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from training.adapt.develop import DEVELOPMENT_SEEDS, GRID, SOURCE_FIT_TOLERANCE, chosen_weights
from training.adapt.development_report import (
    arrow,
    centre_note,
    collapse_table,
    defaults_note,
    development_table,
    rank_demo,
    reading_comparison,
)
from training.adapt.diagnostics import GATE_TPR, agreement
from training.adapt.encoder_report import encoder_section
from training.adapt.experiment import ROWS
from training.adapt.report_text import (
    DEFAULT_RULE,
    HEADER,
    IDA,
    PROTOCOL,
    REPRODUCE,
    USER_CHECKS,
)
from training.adapt.tasks import CLASSES, DEVELOPMENT_SPEAKERS, TABLE_TASKS
from training.adapt.trainer import AdaptConfig
from training.adapt.user_report import user_section
from training.adapt.verdict import (
    GOAL_DIDAN_GAP,
    GOAL_GAIN,
    HEADLINE,
    by_key,
    diagnostics_table,
    mean_ua,
    paired,
    verdict,
)


def cell(values: Sequence[float], seeds: int) -> str:
    if not values:
        return "n/a"
    text = f"{np.mean(values):.1f} ± {np.std(values):.1f}"
    return text if len(values) == seeds else f"{text} ({len(values)} of {seeds} seeds)"


def results_table(table: Sequence[dict], rows: Sequence[str], seeds: int) -> str:
    data = by_key(table)
    labelled = [t.name for t in TABLE_TASKS if t.labelled]
    unlabelled = [t.name for t in TABLE_TASKS if not t.labelled]
    head = ["row", "weight"] + [f"{arrow(t)} UAR" for t in labelled]
    for t in unlabelled:
        head += [f"{arrow(t)}: neutral", "uncertain", "neutral or uncertain"]
    head.append("source training UAR")
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for row in rows:
        runs = [r for (task, name), seeds_ in data.items() if name == row for r in seeds_.values()]
        if not runs:
            continue
        weight = runs[0]["weight"]
        cells = [row, f"{weight:g}"]
        for task in labelled:
            cells.append(cell([100 * r["ua"] for r in data.get((task, row), {}).values()], seeds))
        for task in unlabelled:
            got = list(data.get((task, row), {}).values())
            for key in ("neutral", "uncertain", "neutral_or_uncertain"):
                cells.append(cell([100 * r[key] for r in got], seeds))
        cells.append(f"{100 * np.mean([r['source_ua'] for r in runs]):.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def significance_table(table: Sequence[dict], rows: Sequence[str]) -> str:
    tasks = [t.name for t in TABLE_TASKS if t.labelled]
    lines = [
        "| row | " + " | ".join(f"{arrow(t)}: difference (95 % interval), p" for t in tasks) + " |",
        "|---" * (len(tasks) + 1) + "|",
    ]
    for row in rows:
        if row == "source-only":
            continue
        cells = []
        for task in tasks:
            d = paired(table, task, row, "source-only")
            cells.append(
                "n/a"
                if d is None
                else f"{d.difference:+.1f} ({d.low:+.1f} to {d.high:+.1f}), p = {d.p_value:.3f}"
            )
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goals(table: Sequence[dict], rows: Sequence[str]) -> str:
    """The two targets, judged from the table (means over the seeds run)."""
    reference, n = mean_ua(table, HEADLINE, "source-only")
    aligned = [
        r
        for r in rows
        if r not in ("source-only", "joint-batch") and mean_ua(table, HEADLINE, r)[1]
    ]
    if not n or not aligned:
        return "The table has not been run yet.\n"
    scores = {r: mean_ua(table, HEADLINE, r)[0] for r in aligned}
    best = max(scores, key=scores.get)
    gain = scores[best] - reference
    verdict = "met" if gain >= GOAL_GAIN else "**not met**"
    lines = [
        f"- Best row on {arrow(HEADLINE)}: **{best}**, {scores[best]:.1f} % against source-only's "
        f"{reference:.1f} % ({gain:+.1f} points, mean of {n} seeds). Goal of "
        f"+{GOAL_GAIN:g} points: {verdict}."
    ]
    d = paired(table, HEADLINE, best, "source-only")
    if d is not None:
        lines.append(
            f"  Paired bootstrap: {d.difference:+.1f} points (95 % interval {d.low:+.1f} to "
            f"{d.high:+.1f}), p = {d.p_value:.3f}."
        )
    didan = {r: s for r, s in scores.items() if r in ("didan", "didan-sparse")}
    if didan:
        top = max(didan, key=didan.get)
        gap = scores[best] - didan[top]
        ok = "within" if gap <= GOAL_DIDAN_GAP else "**not within**"
        lines.append(
            f"- DIDAN's better reconstruction ({top}) is {gap:.1f} points below the best: {ok} "
            f"the {GOAL_DIDAN_GAP:g} points aimed for."
        )
    return "\n".join(lines) + "\n"


def seed_agreement(table: Sequence[dict], task: str, rows: Sequence[str]) -> str:
    """Mean pairwise agreement between seeds of each row on an unlabelled task."""
    data = by_key(table)
    parts = []
    for row in rows:
        runs = [np.eye(len(CLASSES))[r["predicted"]] for r in data.get((task, row), {}).values()]
        pairs = [agreement(a, b) for i, a in enumerate(runs) for b in runs[i + 1 :]]
        if pairs:
            parts.append(f"{row} {100 * np.mean(pairs):.0f} %")
    return ", ".join(parts)


def network_facts(base: AdaptConfig) -> dict:
    """The network's sizes, read from its code."""
    from training.adapt.network import DidanConfig, DidanNet

    net = DidanNet(DidanConfig(classes=CLASSES))
    c = net.config
    frame_ms = 1000 * c.time_pool * c.frontend.hop_samples / c.frontend.sample_rate_hz
    return {
        "bands": c.frontend.n_mels // c.mel_pool,
        "frame_ms": frame_ms,
        "channels": ", ".join(map(str, c.conv_channels)),
        "fc1": c.hidden_dim,
        "fc2": c.embedding_dim,
        "parameters": f"{sum(p.numel() for p in net.parameters()):,}".replace(",", " "),
        "crop_s": base.crop_frames * frame_ms / 1000,
    }


def write_report(
    development: Sequence[dict],
    table: Sequence[dict],
    path: Path,
    base: AdaptConfig,
    rows: Sequence[str],
    work: Path | None = None,
    encoder: dict[str, Sequence[dict]] | None = None,
) -> Path:
    seeds = len({r["seed"] for r in table}) or 3
    chosen = chosen_weights(development)
    ivr = next(t.name for t in TABLE_TASKS if not t.labelled)
    parts = [
        HEADER.format(steps=base.steps),
        "## Results\n",
        "UAR (%) on the table part of each labelled target, mean ± std over seeds; on the IVR "
        "prompts, the shares labelled neutral, withheld as uncertain (an energy gate "
        f"calibrated on the source, threshold at {100 * GATE_TPR:g} % of source utterances) "
        "and either.\n",
        results_table(table, rows, seeds) + "\n",
        "### Against source-only: paired bootstrap\n",
        "Difference in UAR points (mean over the seeds both rows ran), its 95 % interval "
        "and two-sided p-value (`training/adapt/significance.py`).\n",
        significance_table(table, rows) + "\n",
        "### The goals\n",
        goals(table, rows),
        f"Agreement between seeds on the IVR prompts (label-free stability): "
        f"{seed_agreement(table, ivr, rows) or 'not run'}.\n",
        USER_CHECKS,
        "## DIDAN's verdict\n",
        verdict(table, development, rows),
        DEFAULT_RULE,
        "Per row on SynthEmo → EmoDB (means over seeds; the development columns are the "
        "same task on the development speakers at the chosen weight; the alignment term "
        "is each row's own, so compare it only within a row and with the control; "
        "'directions' is the participation ratio of the target features' covariance, the "
        "effective number of directions they use):\n",
        diagnostics_table(table, development, rows) + "\n",
        encoder_section(
            {"development": development, "table": table},
            encoder or {"development": [], "table": []},
            rows,
        ),
        user_section(table, work) if work is not None else "",
        "## DIDAN: why the first reading collapsed, and the fix\n",
        IDA.format(ridge=base.ida.ridge, l1=base.ida.l1, fista=base.ida.fista_steps),
        "IDA on Gaussian samples (32 source and 32 target rows, 128 dimensions; computed "
        "while writing this file by `development_report.rank_demo`):\n",
        rank_demo() + "\n",
        "On the development tasks (means over tasks and seeds; 'directions' is the "
        "participation ratio of the embedding's covariance, the effective number of "
        "directions the features use):\n",
        (collapse_table(development) or "(not run)") + "\n",
        reading_comparison(development),
        "## How the weights were chosen\n",
        f"Development tasks: the labelled table tasks on the other part of their target "
        f"(EmoDB speakers {', '.join(s.split(':')[1] for s in DEVELOPMENT_SPEAKERS)}; one "
        f"SynthEmo voice in three per engine), run seeds "
        f"{', '.join(map(str, DEVELOPMENT_SEEDS))}, a grid of {len(GRID)} weights "
        f"({', '.join(f'{g:g}x' for g in GRID)} a centre) per row, and the rule in "
        "`training/adapt/develop.py` (source-fit guard: "
        f"{SOURCE_FIT_TOLERANCE:g} points).\n",
        centre_note(development),
        (development_table(development, chosen) if development else "(not run)") + "\n",
        defaults_note(development, chosen),
        PROTOCOL.format(
            steps=base.steps,
            batch=base.batch_size,
            lr=base.learning_rate,
            classes=", ".join(CLASSES),
            warmup=100 * base.ida.warmup_fraction,
            **network_facts(base),
        ),
        REPRODUCE,
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(p for p in parts if p))
    return path


def mean_over_tasks(table: Sequence[dict], row: str) -> float:
    tasks = [t.name for t in TABLE_TASKS if t.labelled]
    return float(np.mean([mean_ua(table, t, row)[0] for t in tasks]))


__all__ = ["ROWS", "mean_over_tasks", "write_report"]
