"""The encoder-feature section of docs/CROSS_CORPUS.md: the same protocol, every row, the
network reading the frozen encoder's vectors (`training.adapt.features`) instead of
pooled log-mel maps.

Built from the encoder runs' own `development.jsonl` and `table.jsonl` with the log-mel
section's functions (tables, bootstrap, goals, verdict, development rule); what is new
here is the comparison of the two inputs, row by row on the same utterances and seeds,
and the rule that names `streamser adapt`'s default input.
"""

from __future__ import annotations

from collections.abc import Sequence

from training.adapt.cli import DEFAULT_FEATURES
from training.adapt.develop import chosen_weights
from training.adapt.development_report import (
    arrow,
    best_development_row,
    centre_note,
    defaults_note,
    development_table,
)
from training.adapt.report_text import ENCODER_INTRO, ENCODER_RULE
from training.adapt.tables import goals, results_table, seed_agreement, significance_table
from training.adapt.tasks import TABLE_TASKS
from training.adapt.verdict import diagnostics_table, mean_ua, paired, verdict

ENCODER = "encoder"


def tagged(table: Sequence[dict], tag: str) -> list[dict]:
    """The runs with `tag` appended to their row names, so that two inputs' runs of one
    row can sit in one table and be paired."""
    return [{**r, "row": f"{r['row']} ({tag})"} for r in table]


def features_comparison(
    log_mel: Sequence[dict], encoder: Sequence[dict], rows: Sequence[str]
) -> str:
    """Per row and labelled task: UAR with each input and the paired bootstrap of encoder
    against log-mel (the same target utterances, the same seeds)."""
    both = [*log_mel, *tagged(encoder, ENCODER)]
    tasks = [t.name for t in TABLE_TASKS if t.labelled]
    head = ["row"]
    for task in tasks:
        head += [f"{arrow(task)}: log-mel", ENCODER, "difference (95 % interval), p"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for row in rows:
        cells = [row]
        ran = False
        for task in tasks:
            a, n_a = mean_ua(log_mel, task, row)
            b, n_b = mean_ua(encoder, task, row)
            d = paired(both, task, f"{row} ({ENCODER})", row)
            ran = ran or bool(n_b)
            cells += [
                f"{a:.1f}" if n_a else "n/a",
                f"{b:.1f}" if n_b else "n/a",
                "n/a"
                if d is None
                else f"{d.difference:+.1f} ({d.low:+.1f} to {d.high:+.1f}), p = {d.p_value:.3f}",
            ]
        if ran:
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def input_note(log_mel: Sequence[dict], encoder: Sequence[dict]) -> str:
    """The default input by the development rule: the input whose best row (at its chosen
    weight) has the higher mean development UAR, against `streamser adapt`'s default."""
    best = {}
    for name, rows in (("log-mel", log_mel), (ENCODER, encoder)):
        chosen = chosen_weights(rows)
        if chosen:
            best[name] = best_development_row(rows, chosen)
    if len(best) < 2:
        return "The development stage has not run on both inputs: the default input is unchecked.\n"
    winner = max(best, key=lambda k: best[k][1])
    listed = "; ".join(f"{k}: {row}, {ua:.1f} %" for k, (row, ua) in best.items())
    text = (
        f"Highest mean development UAR at the chosen weight, per input: {listed}. "
        f"The development rule's input: **{winner}**; `streamser adapt` defaults to "
        f"`--features {DEFAULT_FEATURES}`"
    )
    if winner == DEFAULT_FEATURES:
        return text + " (that input).\n"
    return text + ": **not the development choice**. " + ENCODER_RULE


def encoder_section(
    log_mel: dict[str, Sequence[dict]], encoder: dict[str, Sequence[dict]], rows: Sequence[str]
) -> str:
    """The section, or a line saying it has not run. `log_mel` and `encoder` hold each
    input's "development" and "table" runs."""
    table, development = encoder["table"], encoder["development"]
    if not table and not development:
        return (
            "## Encoder features\n\nNot run yet: `bin/cross-corpus --features encoder "
            "--emodb DIR --synthemo DIR` runs it.\n"
        )
    seeds = len({r["seed"] for r in table}) or 3
    chosen = chosen_weights(development)
    ivr = next(t.name for t in TABLE_TASKS if not t.labelled)
    parts = [
        "## Encoder features\n",
        ENCODER_INTRO,
        "### Results on encoder features\n",
        "As in Results: UAR (%) on the table part of each labelled target, mean ± std over "
        "seeds; on the IVR prompts, the shares labelled neutral, withheld as uncertain and "
        "either.\n",
        (results_table(table, rows, seeds) if table else "(the table has not run yet)") + "\n",
        "Against source-only on encoder features, paired bootstrap (difference in UAR "
        "points, 95 % interval, p):\n",
        (significance_table(table, rows) if table else "(not run)") + "\n",
        "### The goals on encoder features\n",
        goals(table, rows),
        "Agreement between seeds on the IVR prompts: "
        f"{seed_agreement(table, ivr, rows) or 'not run'}.\n",
        "### DIDAN's verdict on encoder features\n",
        verdict(table, development, rows) if table else "Not run.\n",
        "Per row on SynthEmo → EmoDB, encoder features (columns as in DIDAN's verdict):\n",
        (diagnostics_table(table, development, rows) if table else "(not run)") + "\n",
        "### Encoder features against log-mel maps\n",
        "Per row, mean UAR (%) over seeds with each input and the paired bootstrap of "
        "encoder features against log-mel maps on the same target utterances and seeds:\n",
        (features_comparison(log_mel["table"], table, rows) if table else "(not run)") + "\n",
        "### Weights chosen for encoder features\n",
        'The same development tasks, seeds, pilot, grid and rule as in "How the weights '
        'were chosen", on encoder features.\n',
        centre_note(development),
        (development_table(development, chosen) if development else "(not run)") + "\n",
        defaults_note(development, chosen, ENCODER) if chosen else "",
        input_note(log_mel["development"], development),
    ]
    return "\n".join(p for p in parts if p)
