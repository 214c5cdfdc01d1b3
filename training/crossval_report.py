"""A cross-validation report (`training.crossval`) as tables: Markdown for documents and the
model card, a console table, and the compact record a model keeps."""

from __future__ import annotations


def markdown_table(report: dict) -> str:
    """The report's rows as a Markdown table: UA and WA mean ± std per channel."""
    lines = [
        "| row | channel | UA | WA | per-class recall |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in report["summaries"]:
        recall = ", ".join(f"{c} {r:.2f}" for c, r in s["recall"].items())
        lines.append(
            f"| {s['row']} | {s['channel']} | {s['ua_mean']:.3f} ± {s['ua_std']:.3f} "
            f"| {s['wa_mean']:.3f} ± {s['wa_std']:.3f} | {recall} |"
        )
    return "\n".join(lines)


def selective_table(report: dict) -> str:
    """The gate per row and channel, means over folds, as a Markdown table."""
    lines = [
        "| row | channel | AURC | accuracy at 50 % / 80 % / 100 % coverage "
        "| accepted at the threshold |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row, channels in report.get("selective", {}).items():
        for channel, gate in channels.items():
            mean = gate["mean"]
            lines.append(
                f"| {row} | {channel} | {mean['aurc']:.3f} "
                f"| {mean['accuracy_at_50%']:.3f} / {mean['accuracy_at_80%']:.3f} / "
                f"{mean['accuracy_at_100%']:.3f} | {mean['threshold_coverage']:.1%} |"
            )
    return "\n".join(lines)


READING_COLUMNS = {
    "offline": "offline (all other utterances)",
    "stream": "as a stream (earlier utterances)",
    "fresh": "fresh stream (none)",
}
"""The readings of `training.predict.READINGS`, named by what normalises an utterance."""


def readings_table(report: dict) -> str:
    """UA per speaker-normalised row, channel and reading, as a Markdown table."""
    readings = report.get("readings", {})
    if not readings:
        return ""
    lines = [
        "| row | channel | " + " | ".join(READING_COLUMNS.values()) + " |",
        "| --- | --- |" + " --- |" * len(READING_COLUMNS),
    ]
    for row, by_reading in readings.items():
        for channel in by_reading["offline"]:
            cells = [
                f"{by_reading[r][channel]['ua_mean']:.3f} ± {by_reading[r][channel]['ua_std']:.3f}"
                for r in READING_COLUMNS
            ]
            lines.append(f"| {row} | {channel} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def readings_section(report: dict) -> str:
    """The readings table with what it measures, for a model card ("" without readings)."""
    table = readings_table(report)
    if not table:
        return ""
    return (
        "How much of a voice a stream needs: the rows above normalise each test utterance\n"
        "with all of its speaker's other utterances (the offline reading), which a live\n"
        "stream cannot do. The same fold models, reading each test speaker as one stream in a\n"
        "seeded random order (each utterance normalised with the earlier ones, gathered by the\n"
        "runtime's own speaker statistics) and each utterance as a fresh stream of its own (the\n"
        "population prior alone, as for one file per run), UA:\n\n" + table + "\n\n"
    )


def print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report['protocol']}: {', '.join(report['plan']['data'])}")
    for column in ("row", "channel", "UA", "WA", "worst fold UA"):
        table.add_column(column, justify="left" if column in ("row", "channel") else "right")
    for s in report["summaries"]:
        table.add_row(
            s["row"],
            s["channel"],
            f"{s['ua_mean']:.3f} ± {s['ua_std']:.3f}",
            f"{s['wa_mean']:.3f} ± {s['wa_std']:.3f}",
            f"{min(s['fold_ua']):.3f}",
        )
    Console().print(table)


def compact_report(report: dict) -> dict:
    """A cross-validation report without per-utterance data, for the model's record."""
    return {
        "protocol": report["protocol"],
        "utterances": report["utterances"],
        "train_minutes": sum(row["train_seconds"] for row in report["rows"].values()) / 60,
        "summaries": report["summaries"],
        "selective": {
            row: {channel: {"mean": gate["mean"]} for channel, gate in channels.items()}
            for row, channels in report["selective"].items()
        },
        "readings": report.get("readings", {}),
    }
