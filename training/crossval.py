"""Speaker-independent cross-validation: leave one speaker out, or k folds by speaker.

A single speaker-disjoint split of a small corpus (EmoDB's ten speakers) tests on
two voices, and which two decides the result more than the model does. Cross-
validation tests on every speaker once. In each fold the test speakers are never
seen; one more speaker is held out of training for validation (early stopping,
the OOD gate's threshold), so no choice is made on the test speaker. Corpora given
as `extra` (SynthEmo, say) join every fold's training set and are never tested.

Each row is a recogniser trained afresh per fold: an MSAC-SERNet variant (a
TrainConfig) or a classic eGeMAPS reference (`training.classic`). Every fold is
scored wideband and through a telephone channel (8 kHz, G.711 mu-law), the path
contact-center audio takes. Finished folds are kept on disk, so an interrupted
run resumes where it stopped. The report's tables are `training.crossval_report`.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from streamser.errors import StreamserError
from streamser.ood import ood_score
from training.classic import ClassicClassifier, ClassicOptions
from training.config import TrainConfig
from training.corpora import Utterance
from training.encoder.row import (
    EncoderRow,
    encoder_vectors_key,
    run_encoder_fold,
    utterance_embeddings,
)
from training.folds import (
    CHANNELS,
    LOSO_MAX_SPEAKERS,
    CrossValidationPlan,
    Fold,
    FoldResult,
    load_plan_data,
    speaker_folds,
    through_telephone,
)
from training.metrics import confusion, plot_confusion, unweighted_accuracy, weighted_accuracy
from training.predict import OTHER_READINGS

log = logging.getLogger(__name__)

__all__ = [
    "CHANNELS",
    "LOSO_MAX_SPEAKERS",
    "ClassicRow",
    "CnnRow",
    "CrossValidation",
    "CrossValidationPlan",
    "EncoderRow",
    "Fold",
    "FoldResult",
    "load_plan_data",
    "speaker_folds",
    "summarise",
    "through_telephone",
]


@dataclass(frozen=True)
class CnnRow:
    """An MSAC-SERNet variant: TrainConfig fields over the plan's data and classes."""

    name: str
    config: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ClassicRow:
    name: str
    options: ClassicOptions = field(default_factory=ClassicOptions)


Row = CnnRow | ClassicRow | EncoderRow


def run_cnn_fold(plan: CrossValidationPlan, row: CnnRow, fold: Fold, work: Path) -> FoldResult:
    """Trains one variant on one fold (one torch thread: folds run side by side), then
    scores its test speakers: labels, and the OOD gate's score (Mahalanobis, the
    bundled model's method) with its threshold calibrated on the validation speaker
    at 95 % TPR, as export calibrates it."""
    from training.experiment import Partition
    from training.resumable import train_once

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    tested, extra = load_plan_data(plan)
    test = [u for u in tested if u.speaker in fold.test_speakers]
    validation = [u for u in tested if u.speaker in fold.validation_speakers]
    held_out = set(fold.test_speakers) | set(fold.validation_speakers)
    train = [u for u in tested if u.speaker not in held_out] + extra
    data = Partition(train, validation, test, ())
    output = work / row.name / f"fold{fold.index:02d}"
    settings = {"classes": plan.classes, "seed": plan.seed, "threads": 1}
    config = TrainConfig.from_dict(
        {**settings, **row.config, "data": plan.data + plan.extra, "output_dir": str(output)}
    )
    started = time.perf_counter()
    best = train_once(config, data)  # a finished fold is scored again, not retrained
    result = score_fold(best, data, plan.classes)
    result.fold = fold.index
    result.seconds = time.perf_counter() - started
    return result


def score_fold(checkpoint: Path, data, classes: Sequence[str]) -> FoldResult:
    from training.data import AudioCache
    from training.ood.calibration import calibrate, embedding_params
    from training.predict import EmotionPredictor, speakers_of

    predictor = EmotionPredictor(checkpoint)
    _, train_embeddings = predictor.predict(AudioCache(data.train).audio, speakers_of(data.train))
    train_labels = np.array([classes.index(u.emotion) for u in data.train])
    params = embedding_params(train_embeddings, train_labels, len(classes))
    validation = predictor.predict(AudioCache(data.validation).audio, speakers_of(data.validation))
    calibration = calibrate(*validation, method="mahalanobis", params=params)
    audio = AudioCache(data.test).audio
    result = FoldResult(
        fold=-1,
        true=[classes.index(u.emotion) for u in data.test],
        predicted={},
        threshold=calibration.threshold,
    )
    for channel, clips in (("wideband", audio), ("telephone", through_telephone(audio))):
        logits, embeddings = predictor.predict(clips, speakers_of(data.test))
        result.predicted[channel] = logits.argmax(axis=1).tolist()
        result.logits[channel] = logits.tolist()
        result.scores[channel] = ood_score("mahalanobis", logits, embeddings, calibration).tolist()
        for reading in OTHER_READINGS if predictor.speaker_normalised else ():
            logits, _ = predictor.predict(clips, speakers_of(data.test), reading)
            result.readings.setdefault(reading, {})[channel] = logits.argmax(axis=1).tolist()
    return result


def run_classic_fold(
    plan: CrossValidationPlan,
    row: ClassicRow,
    fold: Fold,
    utterances: list[Utterance],
    tested_count: int,
    features: dict[str, np.ndarray],
) -> FoldResult:
    """`utterances` are the tested ones, then the extra ones; `features` per channel
    hold a row for each."""
    speakers = np.array([u.speaker for u in utterances])
    tested = np.arange(len(utterances)) < tested_count
    in_test = tested & np.isin(speakers, fold.test_speakers)
    in_train = ~np.isin(speakers, fold.test_speakers + fold.validation_speakers)
    labels = np.array([plan.classes.index(u.emotion) for u in utterances])
    started = time.perf_counter()
    classifier = ClassicClassifier(row.options).fit(
        features["wideband"][in_train], labels[in_train], speakers[in_train]
    )
    result = FoldResult(fold=fold.index, true=labels[in_test].tolist(), predicted={})
    for channel in CHANNELS:
        predicted = classifier.predict(features[channel][in_test], speakers[in_test])
        result.predicted[channel] = np.asarray(predicted).tolist()
    result.seconds = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class RowSummary:
    """A row's scores over the folds, for one channel.

    Attributes:
        ua_mean, ua_std, wa_mean, wa_std: Over folds (sample standard deviation).
        fold_ua: Per fold, in fold order.
        recall: Per class, from the confusion matrix pooled over folds.
        confusion: Pooled over folds, rows true, columns predicted.
    """

    row: str
    channel: str
    ua_mean: float
    ua_std: float
    wa_mean: float
    wa_std: float
    fold_ua: list[float]
    recall: dict[str, float]
    confusion: list[list[int]]


def summarise(
    row: str, channel: str, results: Sequence[FoldResult], classes: Sequence[str]
) -> RowSummary:
    uas = [unweighted_accuracy(r.true, r.predicted[channel]) for r in results]
    was = [weighted_accuracy(r.true, r.predicted[channel]) for r in results]
    true = [t for r in results for t in r.true]
    predicted = [p for r in results for p in r.predicted[channel]]
    matrix = confusion(true, predicted, len(classes))
    recall = matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1)
    return RowSummary(
        row=row,
        channel=channel,
        ua_mean=statistics.mean(uas),
        ua_std=statistics.stdev(uas) if len(uas) > 1 else 0.0,
        wa_mean=statistics.mean(was),
        wa_std=statistics.stdev(was) if len(was) > 1 else 0.0,
        fold_ua=uas,
        recall={c: float(r) for c, r in zip(classes, recall, strict=True)},
        confusion=matrix.tolist(),
    )


def reading_summary(results: Sequence[FoldResult]) -> dict:
    """UA mean ± std over folds per reading (`training.predict.READINGS`) and channel:
    how much a stream must hear of its speaker before the offline numbers hold."""
    summary = {}
    for reading in ("offline", *OTHER_READINGS):
        summary[reading] = {}
        for channel in CHANNELS:
            uas = [
                unweighted_accuracy(
                    r.true,
                    r.predicted[channel] if reading == "offline" else r.readings[reading][channel],
                )
                for r in results
            ]
            summary[reading][channel] = {
                "ua_mean": statistics.mean(uas),
                "ua_std": statistics.stdev(uas) if len(uas) > 1 else 0.0,
            }
    return summary


class CrossValidation:
    """Runs rows over folds, resumably, and writes the report.

    Args:
        plan: What is cross-validated.
        rows: Recognisers, each trained afresh per fold.
        work: Fold results (`ROW/foldNN.json`), checkpoints and the report.
        jobs: Folds trained side by side (one torch thread each).
        embeddings: The encoder rows' vector cache (default `work/embeddings`); runs
            that share one reuse each other's vectors.
    """

    def __init__(
        self,
        plan: CrossValidationPlan,
        rows: Sequence[Row],
        work: Path,
        jobs: int = 1,
        embeddings: Path | None = None,
    ) -> None:
        if not plan.classes:
            raise StreamserError("cross-validation needs the emotion classes to score")
        names = [r.name for r in rows]
        if len(set(names)) != len(names):
            raise StreamserError(f"row names must be unique, got {', '.join(names)}")
        self.plan = plan
        self.rows = list(rows)
        self.work = Path(work)
        self.jobs = jobs
        self.embeddings = embeddings or self.work / "embeddings"

    def run(self) -> dict:
        tested, extra = load_plan_data(self.plan)
        folds = speaker_folds(tested, self.plan.folds, self.plan.seed)
        log.info(
            "%d folds over %d speakers (%d utterances; %d extra training utterances)",
            len(folds), len({u.speaker for u in tested}), len(tested), len(extra),
        )  # fmt: skip
        results: dict[str, list[FoldResult]] = {}
        classic_rows = [r for r in self.rows if isinstance(r, ClassicRow)]
        if classic_rows:
            features = self._classic_features(tested + extra)
            for row in classic_rows:
                results[row.name] = [
                    self._cached(row, fold, run_classic_fold, tested + extra, len(tested), features)
                    for fold in folds
                ]
        for row in (r for r in self.rows if isinstance(r, EncoderRow)):
            vectors = utterance_embeddings(tested + extra, row.options.pad, self.embeddings)
            made_from = {"vectors": encoder_vectors_key(row.options.pad)}
            data = (tested + extra, len(tested), vectors)
            results[row.name] = [
                self._cached(row, fold, run_encoder_fold, *data, made_from=made_from)
                for fold in folds
            ]
        cnn_rows = [r for r in self.rows if isinstance(r, CnnRow)]
        # Spawned, not forked: a fork of a process that has run torch's thread pool can
        # inherit a held lock and wait on it forever.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=spawn) as pool:
            pending = {
                (row.name, fold.index): pool.submit(self._cached, row, fold, run_cnn_fold)
                for row in cnn_rows
                for fold in folds
            }
            for row in cnn_rows:
                results[row.name] = [pending[(row.name, f.index)].result() for f in folds]
        report = self._report(folds, results, tested, extra)
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "crossval.json").write_text(json.dumps(report, indent=1))
        return report

    def _cached(
        self, row: Row, fold: Fold, run, *args, made_from: dict | None = None
    ) -> FoldResult:
        """A fold's result from disk when it was made with the same settings and, as
        `made_from` names them, from the same inputs (an encoder row's vectors)."""
        path = self.work / row.name / f"fold{fold.index:02d}.json"
        made = {"plan": asdict(self.plan), "row": asdict(row), **(made_from or {})}
        settings = json.loads(json.dumps(made))
        if path.exists():
            result = FoldResult(**json.loads(path.read_text()))
            if result.settings == settings:
                return result
            log.info("%s: made with other settings, run again", path)
        if isinstance(row, CnnRow):
            result = run(self.plan, row, fold, self.work)
        else:
            result = run(self.plan, row, fold, *args)
        result.settings = settings
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(result)))
        log.info("%s fold %d: UA %.3f", row.name, fold.index,
                 unweighted_accuracy(result.true, result.predicted["wideband"]))  # fmt: skip
        return result

    def _classic_features(self, utterances: list[Utterance]) -> dict[str, np.ndarray]:
        """eGeMAPS functionals per channel, cached beside the fold results."""
        from training.data import AudioCache
        from training.egemaps import egemaps_functionals

        features = {}
        key = _utterance_key(utterances)
        for channel in CHANNELS:
            path = self.work / "egemaps" / f"{channel}-{key}.npy"
            if not path.exists():
                audio = AudioCache(utterances).audio
                if channel == "telephone":
                    audio = through_telephone(audio)
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, egemaps_functionals(audio, workers=self.jobs))
            features[channel] = np.load(path)
        return features

    def _report(
        self,
        folds: list[Fold],
        results: dict[str, list[FoldResult]],
        tested: list[Utterance],
        extra: list[Utterance],
    ) -> dict:
        classes = self.plan.classes
        summaries = [
            summarise(name, channel, fold_results, classes)
            for name, fold_results in results.items()
            for channel in CHANNELS
        ]
        for summary in summaries:
            plot_confusion(
                np.array(summary.confusion),
                classes,
                self.work / f"confusion-{summary.row}-{summary.channel}.png",
                f"{summary.row} ({summary.channel}): UA {summary.ua_mean:.3f}",
            )
        selective = {
            name: self._selective(name, fold_results)
            for name, fold_results in results.items()
            if fold_results and fold_results[0].scores
        }
        return {
            "plan": asdict(self.plan),
            "protocol": "leave-one-speaker-out"
            if all(len(f.test_speakers) == 1 for f in folds)
            else f"{len(folds)} folds by speaker",
            "folds": [asdict(f) for f in folds],
            "utterances": {"tested": len(tested), "extra_training": len(extra)},
            "rows": {
                row.name: {
                    "kind": _KINDS[type(row)],
                    "settings": row.config if isinstance(row, CnnRow) else asdict(row.options),
                    "train_seconds": sum(r.seconds for r in results[row.name]),
                }
                for row in self.rows
            },
            "summaries": [asdict(s) for s in summaries],
            "selective": selective,
            "readings": {
                name: reading_summary(fold_results)
                for name, fold_results in results.items()
                if fold_results and all(r.readings for r in fold_results)
            },
        }

    def _selective(self, row: str, results: Sequence[FoldResult]) -> dict:
        """The gate per fold: AURC, accuracy at 50/80/100 % coverage, and coverage
        and accuracy at the threshold calibrated on the fold's validation speaker;
        means over folds, per channel. The plot pools the folds, each utterance's
        score taken relative to its fold's threshold."""
        from training.selective import plot_risk_coverage, risk_coverage, selective_report

        report: dict = {}
        curves = {}
        for channel in CHANNELS:
            folds = []
            for r in results:
                correct = np.equal(r.true, r.predicted[channel])
                folds.append(selective_report(np.array(r.scores[channel]), correct, r.threshold))
            per_fold = [f.to_dict() for f in folds]
            report[channel] = {
                "folds": per_fold,
                "mean": {
                    key: float(np.mean([f[key] for f in per_fold]))
                    for key in ("aurc", "e_aurc", "threshold_coverage")
                }
                | {
                    f"accuracy_at_{key}": float(
                        np.mean([f["accuracy_at_coverage"][key] for f in per_fold])
                    )
                    for key in per_fold[0]["accuracy_at_coverage"]
                },
            }
            relative = np.concatenate(
                [np.subtract(r.scores[channel], r.threshold) for r in results]
            )
            correct = np.concatenate([np.equal(r.true, r.predicted[channel]) for r in results])
            curves[channel] = risk_coverage(relative, correct)
        plot_risk_coverage(curves, self.work / f"risk-coverage-{row}.png", f"{row}: the gate")
        return report


_KINDS = {CnnRow: "cnn", ClassicRow: "classic", EncoderRow: "encoder"}


def _utterance_key(utterances: list[Utterance]) -> str:
    import hashlib

    names = "\n".join(str(u.path) for u in utterances)
    return hashlib.sha256(names.encode()).hexdigest()[:12]
