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
    centre_note,
    collapse_table,
    defaults_note,
    development_table,
    rank_demo,
    reading_comparison,
)
from training.adapt.diagnostics import GATE_TPR
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
from training.adapt.tables import goals, results_table, seed_agreement, significance_table
from training.adapt.tasks import CLASSES, DEVELOPMENT_SPEAKERS, TABLE_TASKS
from training.adapt.trainer import AdaptConfig
from training.adapt.user_report import user_section
from training.adapt.verdict import (
    diagnostics_table,
    mean_ua,
    verdict,
)


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
        user_section({"log-mel": table, "encoder": (encoder or {}).get("table", [])}, work)
        if work is not None
        else "",
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
