"""`streamser evaluate --ood`: how well each OOD score separates held-out ID utterances from
each OOD set, and what the calibrated gate does to accuracy.

This module measures, given a model's outputs; `training.ood.evaluate_model` gets
those outputs from an exported model or a checkpoint, and `training.ood.report`
writes and prints the results.

Scores come from `streamser.ood` with the model's own calibration (the
functions and parameters the runtime gate applies), so a number here is a number
the runtime reproduces. ODIN-style scoring is temperature-scaled MSP
(Liang et al. 2018) without input perturbation: the exported ONNX graph has no
gradient with respect to its input, so perturbation cannot run at inference time;
the runtime can apply the temperature half through `msp` with a calibrated
temperature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from streamser.metadata import OodCalibration
from streamser.ood import msp, ood_score, threshold_for_tpr
from streamser.voicing import MIN_VOICED_SHARE, unvoiced
from training.ood.calibration import id_quantiles
from training.ood.metrics import OodMetrics, ood_metrics
from training.ood.sets import OodSet

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
        voiced: Per utterance, the share of its loud frames that are voiced
            (`streamser.voicing`); None: the audio was not at hand, and the gate's
            voicing test is left out.
    """

    logits: np.ndarray
    embeddings: np.ndarray
    true: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    """Scores of methods the logits and embedding cannot give (`odin_perturbed`)."""
    voiced: np.ndarray | None = None

    def speech(self, min_voiced_share: float) -> np.ndarray:
        """Which utterances pass the gate's voicing test."""
        if self.voiced is None:
            return np.ones(len(self.true), dtype=bool)
        return ~unvoiced(self.voiced, min_voiced_share)


@dataclass(frozen=True)
class OodRow:
    """One method on one OOD set."""

    method: str
    ood_set: str
    shift: str
    metrics: OodMetrics
    accepted: float | None
    """Share of the OOD set the gate accepts: at the calibrated threshold and, where
    the audio was at hand, voiced enough (None: no threshold)."""
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
        id_accepted: Share of ID positives accepted (the score and the voicing test).
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
    min_voiced_share: float = MIN_VOICED_SHARE,
) -> OodEvaluation:
    """Every available method on every OOD set, and the gate at the calibrated thresholds.

    Detection metrics (AUROC, FPR at 95 % TPR) rank the scores alone; what the gate
    accepts also takes the voicing test the runtime applies (`min_voiced_share`),
    wherever the outputs carry it.

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
    speech = {ood_set.name: outputs.speech(min_voiced_share) for ood_set, outputs in ood_sets}
    rows = []
    for ood_set, outputs in ood_sets:
        for m in methods:
            scores = scores_of(m, outputs)
            limit = limits[m]
            kept = None if limit is None else (scores >= limit) & speech[ood_set.name]
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

    def shipped_score_accepts(outputs: Outputs) -> np.ndarray | None:
        limit = limits.get(calibration.method)
        if limit is None:
            return None
        return scores_of(calibration.method, outputs) >= limit

    correct = positives.logits.argmax(axis=1) == positives.true
    gate = []
    id_speech = positives.speech(min_voiced_share)
    for m in methods:
        limit = limits[m]
        kept = None if limit is None else (id_scores[m] >= limit) & id_speech
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
            "min_voiced_share": min_voiced_share,
        },
        sets=[
            {
                "name": s.name,
                "shift": s.shift,
                "description": s.description,
                "utterances": len(s.audio),
                "voiced": None if o.voiced is None else float(speech[s.name].mean()),
                "kinds": _by_kind(
                    s,
                    None if o.voiced is None else speech[s.name],
                    shipped_score_accepts(o),
                ),
            }
            for s, o in ood_sets
        ],
        rows=rows,
        gate=gate,
    )


def _by_kind(
    ood_set: OodSet, voiced: np.ndarray | None, score_accepts: np.ndarray | None
) -> list[dict]:
    """Per kind of sound in the set (`OodSet.kinds`): how many, the share voiced enough,
    the share the shipped method's score alone accepts and the share the gate accepts
    (both). Empty for sets of one kind."""
    kinds = np.array(ood_set.kinds)
    accepted = score_accepts
    if score_accepts is not None and voiced is not None:
        accepted = score_accepts & voiced

    def share(passed: np.ndarray | None, mine: np.ndarray) -> float | None:
        return None if passed is None else float(passed[mine].mean())

    return [
        {
            "kind": kind,
            "utterances": int((kinds == kind).sum()),
            "voiced": share(voiced, kinds == kind),
            "score_accepted": share(score_accepts, kinds == kind),
            "accepted": share(accepted, kinds == kind),
        }
        for kind in dict.fromkeys(ood_set.kinds)
    ]


def _accuracies(outputs: Outputs, kept: np.ndarray | None) -> tuple[float | None, float | None]:
    """Accuracy on the labelled utterances of a set, all and accepted (None: no labels)."""
    labelled = outputs.true >= 0
    if not labelled.any():
        return None, None
    correct = outputs.logits.argmax(axis=1) == outputs.true
    chosen = labelled if kept is None else labelled & kept
    accepted = float(correct[chosen].mean()) if kept is not None and chosen.any() else None
    return float(correct[labelled].mean()), accepted
