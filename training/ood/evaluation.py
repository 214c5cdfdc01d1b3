"""`streamser evaluate --ood`: how well each OOD score separates held-out ID utterances from
each OOD set, and what the calibrated gate does to accuracy.

Scores come from `streamser.ood` with the model's own calibration (the
functions and parameters the runtime gate applies), so a number here is a number
the runtime reproduces. ODIN-style scoring is temperature-scaled MSP
(Liang et al. 2018) without input perturbation: the exported ONNX graph has no
gradient with respect to its input, so perturbation cannot run at inference time;
the runtime can apply the temperature half through `msp` with a calibrated
temperature.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streamser.metadata import OodCalibration
from streamser.ood import msp, ood_score, threshold_for_tpr
from training.ood.calibration import id_quantiles
from training.ood.metrics import OodMetrics, ood_metrics
from training.ood.sets import OodSet, OodSetOptions

if TYPE_CHECKING:
    from training.corpora import Utterance

ODIN_TEMPERATURE = 1000.0
METHODS = ("msp", "odin", "max_logit", "energy", "mahalanobis", "knn")
"""Methods evaluated: the runtime's five plus ODIN-style temperature scaling."""


def method_scores(
    method: str, logits: np.ndarray, embeddings: np.ndarray, calibration: OodCalibration
) -> np.ndarray:
    """Scores of `method` ("higher = ID"), from the runtime's functions and parameters."""
    if method == "odin":
        return msp(logits, ODIN_TEMPERATURE)
    return ood_score(method, logits, embeddings, calibration)


def available_methods(calibration: OodCalibration) -> tuple[str, ...]:
    """The methods the calibration has parameters for (embedding methods need params)."""
    needs = {"mahalanobis": "class_means", "knn": "reference"}
    return tuple(m for m in METHODS if m not in needs or needs[m] in calibration.params)


@dataclass(frozen=True)
class Outputs:
    """A model's outputs on a set of utterances.

    Attributes:
        logits: `[n, classes]`.
        embeddings: `[n, dim]`.
        true: Class index per utterance, -1 where the model's labels do not apply.
        extra: Method -> per-utterance scores computed elsewhere (ODIN with input
            perturbation needs the torch model: `training.ood.odin`).
    """

    logits: np.ndarray
    embeddings: np.ndarray
    true: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    """Scores of methods the logits and embedding cannot give (`odin_perturbed`)."""


@dataclass(frozen=True)
class OodRow:
    """One method on one OOD set."""

    method: str
    ood_set: str
    shift: str
    metrics: OodMetrics
    accepted: float | None
    """Share of the OOD set accepted at the calibrated threshold (None: no threshold)."""
    accuracy_all: float | None = None
    """Covariate sets, whose labels apply: accuracy on the whole set."""
    accuracy_accepted: float | None = None
    """Covariate sets: accuracy on what the calibrated threshold accepts."""

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "metrics"} | self.metrics.to_json()


@dataclass(frozen=True)
class GateRow:
    """One method's calibrated threshold applied to the ID positives.

    Attributes:
        threshold: From the calibration's ID quantiles at its TPR (None: the
            calibration has no quantiles for this method).
        id_accepted: Share of ID positives accepted.
        accuracy_all: Accuracy on every ID positive.
        accuracy_accepted: Accuracy on the accepted ones (None if none accepted).
    """

    method: str
    threshold: float | None
    id_accepted: float | None
    accuracy_all: float
    accuracy_accepted: float | None


@dataclass(frozen=True)
class OodEvaluation:
    """Attributes:
    model: The model evaluated.
    positives: What the ID positives are.
    id_count: How many.
    calibration: The calibration's method, TPR and temperature.
    sets: Per OOD set: shift, description, size.
    rows: Metrics per method and set.
    gate: The calibrated threshold per method, on the ID positives.
    """

    model: str
    positives: str
    id_count: int
    calibration: dict
    sets: list[dict]
    rows: list[OodRow]
    gate: list[GateRow]

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "positives": self.positives,
            "id_count": self.id_count,
            "calibration": self.calibration,
            "odin_temperature": ODIN_TEMPERATURE,
            "sets": self.sets,
            "rows": [r.to_json() for r in self.rows],
            "gate": [asdict(g) for g in self.gate],
            "best_fpr_at_95_tpr": self.best_by_set(),
        }

    def best_by_set(self) -> dict[str, str]:
        """Per OOD set, the method with the lowest FPR at 95 % TPR (ties: higher AUROC)."""
        best: dict[str, OodRow] = {}
        for row in self.rows:
            key = (row.metrics.fpr_at_95_tpr, -row.metrics.auroc)
            held = best.get(row.ood_set)
            if held is None or key < (held.metrics.fpr_at_95_tpr, -held.metrics.auroc):
                best[row.ood_set] = row
        return {name: row.method for name, row in best.items()}


def thresholds(
    calibration: OodCalibration,
    methods: Sequence[str],
    extra_quantiles: dict[str, list[float]] | None = None,
) -> dict[str, float | None]:
    """Per method, the threshold that accepts the calibration's TPR of its held-out ID data.

    `extra_quantiles`: ID quantiles of methods the model file does not carry.
    """
    quantiles = dict(calibration.id_quantiles) | (extra_quantiles or {})
    return {
        m: threshold_for_tpr(quantiles[m], calibration.tpr) if m in quantiles else None
        for m in methods
    }


def odin_quantiles(validation_logits: np.ndarray) -> list[float]:
    """ODIN's ID quantiles from the split the calibration was made on (it is not in the file)."""
    return id_quantiles(msp(validation_logits, ODIN_TEMPERATURE))


def evaluate_ood(
    model: str,
    calibration: OodCalibration,
    positives: Outputs,
    positives_name: str,
    ood_sets: Sequence[tuple[OodSet, Outputs]],
    validation_logits: np.ndarray | None = None,
    validation_extra: dict[str, np.ndarray] | None = None,
) -> OodEvaluation:
    """Every available method on every OOD set, and the gate at the calibrated thresholds.

    Args:
        model: Name of the model for the report.
        calibration: The model's OOD calibration (parameters and ID quantiles).
        positives: Outputs on held-out ID utterances, with their classes.
        positives_name: What the positives are.
        ood_sets: Each set with the model's outputs on it.
        validation_extra: Scores of `extra` methods on the calibration split, for
            their thresholds.
        validation_logits: Logits on the calibration split, for ODIN's threshold;
            without them ODIN has metrics but no threshold.
    """
    extra = [m for m in positives.extra if all(m in o.extra for _, o in ood_sets)]
    methods = (*available_methods(calibration), *extra)
    extra_quantiles = {m: id_quantiles(v) for m, v in (validation_extra or {}).items()}
    if validation_logits is not None:
        extra_quantiles["odin"] = odin_quantiles(validation_logits)
    limits = thresholds(calibration, methods, extra_quantiles)

    def scores_of(m: str, outputs: Outputs) -> np.ndarray:
        if m in outputs.extra:
            return outputs.extra[m]
        return method_scores(m, outputs.logits, outputs.embeddings, calibration)

    id_scores = {m: scores_of(m, positives) for m in methods}
    rows = []
    for ood_set, outputs in ood_sets:
        for m in methods:
            scores = scores_of(m, outputs)
            limit = limits[m]
            kept = None if limit is None else scores >= limit
            all_, accepted = _accuracies(outputs, kept)
            rows.append(
                OodRow(
                    method=m,
                    ood_set=ood_set.name,
                    shift=ood_set.shift,
                    metrics=ood_metrics(id_scores[m], scores),
                    accepted=None if kept is None else float(kept.mean()),
                    accuracy_all=all_,
                    accuracy_accepted=accepted,
                )
            )
    correct = positives.logits.argmax(axis=1) == positives.true
    gate = []
    for m in methods:
        limit = limits[m]
        kept = None if limit is None else id_scores[m] >= limit
        gate.append(
            GateRow(
                method=m,
                threshold=limit,
                id_accepted=None if kept is None else float(kept.mean()),
                accuracy_all=float(correct.mean()),
                accuracy_accepted=(
                    float(correct[kept].mean()) if kept is not None and kept.any() else None
                ),
            )
        )
    return OodEvaluation(
        model=model,
        positives=positives_name,
        id_count=len(positives.true),
        calibration={
            "method": calibration.method,
            "tpr": calibration.tpr,
            "temperature": calibration.temperature,
        },
        sets=[
            {
                "name": s.name,
                "shift": s.shift,
                "description": s.description,
                "utterances": len(s.audio),
            }
            for s, _ in ood_sets
        ],
        rows=rows,
        gate=gate,
    )


def _accuracies(outputs: Outputs, kept: np.ndarray | None) -> tuple[float | None, float | None]:
    """Accuracy on the labelled utterances of a set, all and accepted (None: no labels)."""
    labelled = outputs.true >= 0
    if not labelled.any():
        return None, None
    correct = outputs.logits.argmax(axis=1) == outputs.true
    chosen = labelled if kept is None else labelled & kept
    accepted = float(correct[chosen].mean()) if kept is not None and chosen.any() else None
    return float(correct[labelled].mean()), accepted


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


class RuntimePredictor:
    """An exported model run by the runtime's own wrapper (`streamser.model.EmotionModel`):
    the session settings, padding and cropping the gate sees in service.

    `training.predict.EmotionPredictor` runs ONNX with onnxruntime's default thread
    count and tiles short utterances; float32 sums in another order move an
    embedding by ~1e-7, which the Mahalanobis precision matrix magnifies to ~1e-4
    in the score. Scoring through the runtime wrapper makes the evaluation the
    numbers the runtime gate computes, not approximately those.
    """

    def __init__(self, path: Path) -> None:
        from streamser.model import EmotionModel

        self._model = EmotionModel.load(path)
        self.labels = self._model.labels
        self.calibration = self._model.metadata.ood

    def predict(
        self, audio: Sequence[np.ndarray], speakers: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(logits, the vectors the gate reads: embeddings or features). With
        `speakers`, each speaker is a stream of its own, heard in the given order: a
        speaker-normalised model's statistics grow as they do in service."""
        from streamser.audio.formats import int16_to_float
        from streamser.speaker import SpeakerStatistics

        streams: dict[str, SpeakerStatistics] = {}
        gate_reads_features = self.calibration.vector == "features"
        outputs = []
        for i, samples in enumerate(audio):
            speaker = None
            if speakers is not None:
                speaker = streams.setdefault(speakers[i], SpeakerStatistics())
            outputs.append(self._model.infer(int16_to_float(samples), speaker))
        vectors = [o.features if gate_reads_features else o.embedding for o in outputs]
        return np.stack([o.logits for o in outputs]), np.stack(vectors)


def outputs_for(predictor, audio: Sequence[np.ndarray], emotions: Sequence[str | None]) -> Outputs:
    """A predictor's (`RuntimePredictor` or `training.predict.EmotionPredictor`) outputs
    with class indices."""
    logits, embeddings = predictor.predict(list(audio))
    labels = predictor.labels
    true = np.array([labels.index(e) if e in labels else -1 for e in emotions])
    return Outputs(logits, embeddings, true)


def onnx_calibration(path: Path) -> OodCalibration:
    """The calibration an exported model carries, read the way the runtime reads it."""
    import onnx

    from streamser.metadata import METADATA_KEY, ModelMetadata

    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return ModelMetadata.from_json(props.get(METADATA_KEY, "null"), str(path)).ood


def checkpoint_calibration(predictor, checkpoint: Path) -> tuple[OodCalibration, np.ndarray]:
    """What `training.export` would calibrate for a checkpoint: embedding parameters from
    its training split, thresholds from its validation split. Also returns the
    validation logits (for ODIN's threshold)."""
    from training.data import AudioCache
    from training.ood.calibration import calibrate, embedding_params
    from training.predict import speakers_of

    data, config = run_partition(checkpoint)
    logits, embeddings = predictor.predict(
        AudioCache(data.validation).audio, speakers_of(data.validation)
    )
    _, train_embeddings = predictor.predict(AudioCache(data.train).audio, speakers_of(data.train))
    labels = np.array([predictor.labels.index(u.emotion) for u in data.train])
    params = embedding_params(train_embeddings, labels, len(predictor.labels), config.seed)
    return calibrate(logits, embeddings, params=params), logits


def run_partition(checkpoint: Path):
    """(Partition, TrainConfig) of the run that wrote `checkpoint`."""
    from training.checkpoint import load_checkpoint
    from training.config import TrainConfig
    from training.experiment import partition

    config = TrainConfig.from_dict(load_checkpoint(checkpoint).train_config)
    return partition(config), config


def build_sets(
    names: Sequence[str], cache: Path, options: OodSetOptions, outputs
) -> list[tuple[OodSet, Outputs]]:
    """Each named set (`training.ood.sets.build_set`) with `outputs(audio, emotions)` on it."""
    from training.ood.sets import build_set

    sets = []
    for name in names:
        ood_set = build_set(name, cache, options)
        sets.append((ood_set, outputs(ood_set.audio, ood_set.emotions)))
    return sets


def evaluate_predictor(
    name: str,
    predictor,
    calibration: OodCalibration,
    positives: Sequence[Utterance],
    set_names: Sequence[str],
    cache: Path,
    title: str,
    options: OodSetOptions | None = None,
    validation_logits: np.ndarray | None = None,
    perturbed=None,
    validation_extra: dict[str, np.ndarray] | None = None,
) -> OodEvaluation:
    """Outputs of `predictor` on the positives and on each named set, then `evaluate_ood`.

    Args:
        predictor: `RuntimePredictor` or `training.predict.EmotionPredictor`.
        positives: Held-out ID utterances; those of classes the model lacks are left out.
        options: Set sizes and seed; the known emotions are the predictor's labels.
        perturbed: Optional audio -> ODIN-with-perturbation scores (`training.ood.odin`).
    """
    from dataclasses import replace

    from training.data import AudioCache

    def outputs(audio, emotions):
        result = outputs_for(predictor, audio, emotions)
        if perturbed is not None:
            result.extra["odin_perturbed"] = perturbed(audio)
        return result

    kept = [u for u in positives if u.emotion in predictor.labels]
    id_outputs = outputs(AudioCache(kept).audio, [u.emotion for u in kept])
    options = replace(options or OodSetOptions(), known_emotions=predictor.labels)
    sets = build_sets(set_names, cache, options, outputs)
    return evaluate_ood(
        name, calibration, id_outputs, title, sets, validation_logits, validation_extra
    )


def evaluate_exported(
    model: Path,
    positives: Sequence[Utterance],
    validation: Sequence[Utterance] | None,
    set_names: Sequence[str],
    cache: Path,
    title: str,
    options: OodSetOptions | None = None,
) -> OodEvaluation:
    """An exported model's OOD evaluation, scored as the runtime scores.

    Args:
        positives: Held-out ID utterances (the run's test split).
        validation: The split the export calibrated on (gives ODIN its threshold);
            None: ODIN gets metrics but no threshold.
    """
    from training.data import AudioCache
    from training.predict import speakers_of

    predictor = RuntimePredictor(model)
    validation_logits = None
    if validation is not None:
        validation_logits = predictor.predict(
            AudioCache(list(validation)).audio, speakers_of(validation)
        )[0]
    return evaluate_predictor(
        model.name, predictor, predictor.calibration, positives, set_names, cache, title,
        options, validation_logits,
    )  # fmt: skip


def write_reports(evaluation: OodEvaluation, stem: Path) -> None:
    """STEM.json (everything) and STEM.md (the metric and gate tables)."""
    write_json(evaluation, stem.with_suffix(".json"))
    tables = markdown_table(evaluation) + "\n\n" + markdown_gate_tables(evaluation)
    stem.with_suffix(".md").write_text(tables + "\n")


def fpr_summary(evaluation: OodEvaluation) -> str:
    """One row per OOD set, FPR@95TPR per method (shipped method in bold), for a model card."""
    methods = list(dict.fromkeys(r.method for r in evaluation.rows))
    shipped = evaluation.calibration["method"]
    sizes = {s["name"]: s["utterances"] for s in evaluation.sets}
    header = [f"**{m}** (shipped)" if m == shipped else m for m in methods]
    lines = [
        "| OOD set | shift | n | " + " | ".join(header) + " | shipped gate accepts |",
        "|---|---|---:|" + "---:|" * len(methods) + "---:|",
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
            + f" | {'-' if accepted is None else f'{accepted:.0%}'} |"
        )
    return "\n".join(lines)
