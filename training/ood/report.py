"""The OOD evaluation's results: JSON, Markdown tables, the console, and the model card's table."""

from __future__ import annotations

import json
from pathlib import Path

from training.ood.evaluation import OodEvaluation, OodRow


def write_json(evaluation: OodEvaluation, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(evaluation.to_json(), indent=1))
    return path


def markdown_table(evaluation: OodEvaluation) -> str:
    """The metrics as a Markdown table, semantic sets first, best FPR@95TPR in bold."""
    best = evaluation.best_by_set()
    lines = [
        "| OOD set | shift | method | AUROC | AUPR-In | AUPR-Out | FPR@95TPR | accepted |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in sorted(evaluation.rows, key=lambda r: (r.shift != "semantic", r.ood_set)):
        m = row.metrics
        fpr = f"{m.fpr_at_95_tpr:.3f}"
        if best[row.ood_set] == row.method:
            fpr = f"**{fpr}**"
        accepted = "-" if row.accepted is None else f"{row.accepted:.0%}"
        lines.append(
            f"| {row.ood_set} | {row.shift} | {row.method} | {m.auroc:.3f} | "
            f"{m.aupr_in:.3f} | {m.aupr_out:.3f} | {fpr} | {accepted} |"
        )
    return "\n".join(lines)


def markdown_gate_tables(evaluation: OodEvaluation) -> str:
    """The calibrated thresholds on the ID positives, and on the labelled (covariate) sets."""

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.0%}"

    def acc(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    shipped = evaluation.calibration["method"]
    lines = [
        "| method | threshold | ID accepted | accuracy (all) | accuracy (accepted) |",
        "|---|---:|---:|---:|---:|",
    ]
    for g in evaluation.gate:
        name = f"{g.method} (shipped)" if g.method == shipped else g.method
        threshold = "-" if g.threshold is None else f"{g.threshold:.4g}"
        lines.append(
            f"| {name} | {threshold} | {pct(g.id_accepted)} | {acc(g.accuracy_all)} | "
            f"{acc(g.accuracy_accepted)} |"
        )
    labelled = [r for r in evaluation.rows if r.accuracy_all is not None]
    if labelled:
        lines += [
            "",
            "| covariate set | method | accepted | accuracy (all) | accuracy (accepted) |",
            "|---|---|---:|---:|---:|",
        ]
        for r in labelled:
            lines.append(
                f"| {r.ood_set} | {r.method} | {pct(r.accepted)} | {acc(r.accuracy_all)} | "
                f"{acc(r.accuracy_accepted)} |"
            )
    return "\n".join(lines)


def print_ood(evaluation: OodEvaluation, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    best = evaluation.best_by_set()
    table = Table(title=f"{title}: OOD detection ({evaluation.id_count} ID positives)")
    for column in ("OOD set", "shift", "method"):
        table.add_column(column)
    for column in ("AUROC", "AUPR-In", "AUPR-Out", "FPR@95TPR", "accepted"):
        table.add_column(column, justify="right")
    previous = None
    for row in sorted(evaluation.rows, key=lambda r: (r.shift != "semantic", r.ood_set)):
        if previous is not None and row.ood_set != previous:
            table.add_section()
        previous = row.ood_set
        m = row.metrics
        fpr = f"{m.fpr_at_95_tpr:.3f}"
        table.add_row(
            row.ood_set,
            row.shift,
            row.method,
            f"{m.auroc:.3f}",
            f"{m.aupr_in:.3f}",
            f"{m.aupr_out:.3f}",
            f"[bold]{fpr}[/bold]" if best[row.ood_set] == row.method else fpr,
            "-" if row.accepted is None else f"{row.accepted:.0%}",
        )
    gate = Table(title=f"at the calibrated thresholds (TPR {evaluation.calibration['tpr']})")
    for column in ("method", "threshold", "ID accepted", "accuracy (all)", "accuracy (accepted)"):
        gate.add_column(column, justify="right" if column != "method" else "left")
    for g in evaluation.gate:
        gate.add_row(
            g.method + (" (shipped)" if g.method == evaluation.calibration["method"] else ""),
            "-" if g.threshold is None else f"{g.threshold:.4g}",
            "-" if g.id_accepted is None else f"{g.id_accepted:.0%}",
            f"{g.accuracy_all:.3f}",
            "-" if g.accuracy_accepted is None else f"{g.accuracy_accepted:.3f}",
        )
    covariate = Table(title="covariate sets (labels apply) at the calibrated thresholds")
    for column in ("set", "method", "accepted", "accuracy (all)", "accuracy (accepted)"):
        covariate.add_column(column, justify="left" if column in ("set", "method") else "right")
    for r in evaluation.rows:
        if r.accuracy_all is not None:
            covariate.add_row(
                r.ood_set,
                r.method,
                "-" if r.accepted is None else f"{r.accepted:.0%}",
                f"{r.accuracy_all:.3f}",
                "-" if r.accuracy_accepted is None else f"{r.accuracy_accepted:.3f}",
            )
    console = Console()
    console.print(table)
    console.print(gate)
    if covariate.row_count:
        console.print(covariate)


def write_reports(evaluation: OodEvaluation, stem: Path) -> None:
    """STEM.json (everything) and STEM.md (the metric and gate tables)."""
    write_json(evaluation, stem.with_suffix(".json"))
    tables = markdown_table(evaluation) + "\n\n" + markdown_gate_tables(evaluation)
    stem.with_suffix(".md").write_text(tables + "\n")


def fpr_summary(evaluation: OodEvaluation) -> str:
    """One row per OOD set, FPR@95TPR per method (shipped method in bold), for a model card;
    `voiced` is the share that passes the gate's voicing test, whatever its score."""
    methods = list(dict.fromkeys(r.method for r in evaluation.rows))
    shipped = evaluation.calibration["method"]
    sizes = {s["name"]: s["utterances"] for s in evaluation.sets}
    voiced = {s["name"]: s.get("voiced") for s in evaluation.sets}
    header = [f"**{m}** (shipped)" if m == shipped else m for m in methods]
    lines = [
        "| OOD set | shift | n | " + " | ".join(header) + " | voiced | shipped gate accepts |",
        "|---|---|---:|" + "---:|" * len(methods) + "---:|---:|",
    ]
    by_set: dict[str, dict[str, OodRow]] = {}
    for row in evaluation.rows:
        by_set.setdefault(row.ood_set, {})[row.method] = row
    shifts = {name: next(iter(rows.values())).shift for name, rows in by_set.items()}
    for name in sorted(by_set, key=lambda n: (shifts[n] != "semantic", n)):
        rows, shift = by_set[name], shifts[name]
        fprs = [f"{rows[m].metrics.fpr_at_95_tpr:.3f}" if m in rows else "-" for m in methods]
        accepted = rows[shipped].accepted if shipped in rows else None
        lines.append(
            f"| {name} | {shift} | {sizes[name]} | "
            + " | ".join(fprs)
            + f" | {_share(voiced[name])} | {_share(accepted)} |"
        )
    return "\n".join(lines)


def card_tables(evaluation: OodEvaluation) -> str:
    """What a model card shows of the OOD evaluation: `fpr_summary`, then `kinds_table`."""
    return (
        fpr_summary(evaluation)
        + "\n\nBy kind of sound (the segmenter's spans of each kind of clip):\n\n"
        + kinds_table(evaluation)
    )


def kinds_table(evaluation: OodEvaluation) -> str:
    """Per kind of sound of the sets that have kinds (non-speech): how many VAD spans,
    the share voiced enough, the share the shipped score alone accepts and the share
    the shipped gate (both tests) accepts, for a model card."""
    lines = [
        "| OOD set | kind | n | voiced | score alone accepts | shipped gate accepts |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for ood_set in evaluation.sets:
        for kind in ood_set.get("kinds", []):
            lines.append(
                f"| {ood_set['name']} | {kind['kind']} | {kind['utterances']} | "
                f"{_share(kind['voiced'])} | {_share(kind['score_accepted'])} | "
                f"{_share(kind['accepted'])} |"
            )
    return "\n".join(lines)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
