"""The cost/accuracy frontier of `bin/bench --frontier`: each tier's inference time
beside the accuracy its recipe recorded.

Tiers: `fast` (the bundled default), `fast-distilled` (the fast network trained with
the accurate tier as teacher: `bin/distill-fast-model`; its cost is the fast
network's unless a file of its own is given) and `accurate` (the bundled accurate
model); wav2vec2-base (random weights, cost only) comes from the bench's baseline.
Accuracy: EmoDB leave-one-speaker-out UA over 4 classes, wideband and through a
telephone line, and the UA on EmoDB of the same recipe trained on synthetic speech
only, as each evaluation file holds them (`streamser.models.catalog.headline`).

Not a command: bin/bench imports it.
"""

from __future__ import annotations

import json
from pathlib import Path

DISTILLED_REPORT = Path("runs/distill/fast-distilled/report.json")


def tiers(distilled_model: str | None, distilled_report: Path) -> list[dict]:
    """[{name, model (file or None), accuracy, note}] for the tiers that exist here."""
    from streamser.errors import ModelError
    from streamser.models import bundled_model_path
    from streamser.models.catalog import bundled, headline

    found = []
    for name in ("fast", "accurate"):
        try:
            path = bundled_model_path(name)
        except ModelError as error:
            found.append({"name": name, "model": None, "note": str(error)})
            continue
        evaluation = path.with_name(bundled(name).evaluation)
        accuracy = headline(json.loads(evaluation.read_text())) if evaluation.is_file() else {}
        found.append({"name": name, "model": str(path), "accuracy": accuracy, "note": ""})
    fast = found[0]
    distilled = {"name": "fast-distilled", "model": distilled_model, "note": ""}
    if distilled_report.is_file():
        distilled["accuracy"] = json.loads(distilled_report.read_text())["distilled"]
    else:
        distilled["note"] = f"no {distilled_report} (bin/distill-fast-model writes it)"
    if distilled_model is None:
        distilled["model"] = fast["model"]
        distilled["note"] = (distilled["note"] + "; " if distilled["note"] else "") + (
            "timed as the fast network: distillation changes its weights, not its cost"
        )
    found.insert(1, distilled)
    return found


def markdown(report: dict) -> str:
    """The frontier as a Markdown table (3 s utterances; all lengths are in the JSON)."""

    def ua(value) -> str:
        return "-" if value is None else f"{value:.3f}"

    lines = [
        "| tier | file | inference, 3 s utterance (p50, 1 thread) | gate score (p50) "
        "| EmoDB LOSO UA wideband | EmoDB LOSO UA telephone | synthetic -> EmoDB UA |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for tier in report["frontier"]:
        if "inference_ms" not in tier:
            lines.append(f"| {tier['name']} | - | - | - | - | - | - |")
            continue
        accuracy = tier.get("accuracy", {})
        gate = tier["gate"]
        lines.append(
            f"| {tier['name']} | {tier['file_mb']} MB | {tier['inference_ms']['3s']['p50']:.1f} ms "
            f"| {tier['gate_score_ms']['3s']['p50']:.2f} ms ({gate['method']}, {gate['dim']}-d) "
            f"| {ua(accuracy.get('loso_wideband'))} | {ua(accuracy.get('loso_telephone'))} "
            f"| {ua(accuracy.get('synthetic_wideband'))} |"
        )
    baseline = report.get("baseline")
    if baseline:
        lines.append(
            f"| wav2vec2-base (cost only) | {baseline['parameters'] / 1e6:.0f} M parameters "
            f"| {baseline['inference_ms']['3s']['p50']:.1f} ms | - | - | - | - |"
        )
    return "\n".join(lines)
