"""Speaker-independent cross-validation: folds, scores and a resumable run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from streamser.errors import StreamserError
from streamser.labels import FOUR_CLASS
from training.classic import ClassicOptions
from training.corpora import Utterance
from training.crossval import (
    ClassicRow,
    CnnRow,
    CrossValidation,
    CrossValidationPlan,
    FoldResult,
    speaker_folds,
    summarise,
)
from training.crossval_report import markdown_table, readings_table, selective_table


def _utterances(speakers: int, per_speaker: int = 2) -> list[Utterance]:
    return [
        Utterance(Path(f"s{s}-{i}.wav"), "neutral", f"s{s:02d}", "female", "test")
        for s in range(speakers)
        for i in range(per_speaker)
    ]


def test_a_small_corpus_leaves_each_speaker_out_once_and_validates_on_another():
    folds = speaker_folds(_utterances(10), folds=5)
    assert len(folds) == 10
    assert sorted(s for f in folds for s in f.test_speakers) == [f"s{i:02d}" for i in range(10)]
    assert sorted(s for f in folds for s in f.validation_speakers) == [
        f"s{i:02d}" for i in range(10)
    ]
    assert all(not set(f.test_speakers) & set(f.validation_speakers) for f in folds)


def test_a_large_corpus_is_dealt_into_k_folds_by_speaker():
    folds = speaker_folds(_utterances(40), folds=5, seed=3)
    assert len(folds) == 5
    tested = [s for f in folds for s in f.test_speakers]
    assert sorted(tested) == sorted({u.speaker for u in _utterances(40)})  # each once
    assert {len(f.test_speakers) for f in folds} == {8}
    assert all(not set(f.test_speakers) & set(f.validation_speakers) for f in folds)


def test_fewer_than_three_speakers_cannot_be_cross_validated():
    with pytest.raises(StreamserError, match="at least 3 speakers"):
        speaker_folds(_utterances(2), folds=5)


def test_scores_are_averaged_over_folds_and_confusions_pooled():
    classes = ("a", "b")
    results = [
        FoldResult(fold=0, true=[0, 0, 1, 1], predicted={"wideband": [0, 0, 1, 1]}),
        FoldResult(fold=1, true=[0, 1, 1, 1], predicted={"wideband": [1, 1, 1, 1]}),
    ]
    summary = summarise("row", "wideband", results, classes)
    assert summary.fold_ua == [1.0, 0.5]
    assert summary.ua_mean == pytest.approx(0.75)
    assert summary.ua_std == pytest.approx(np.std([1.0, 0.5], ddof=1))
    assert summary.wa_mean == pytest.approx((1.0 + 0.75) / 2)
    assert summary.confusion == [[2, 1], [0, 5]]
    assert summary.recall == {"a": pytest.approx(2 / 3), "b": 1.0}


def test_a_cross_validation_run_scores_every_row_and_resumes(tiny_corpus, tmp_path):
    plan = CrossValidationPlan(data=(str(tiny_corpus),), classes=FOUR_CLASS)
    rows = [
        CnnRow(
            "cnn",
            {"epochs": 1, "crop_seconds": 0.5, "batch_size": 16, "speaker_normalise": True},
        ),
        ClassicRow("egemaps-logreg", ClassicOptions(kind="logreg")),
    ]
    report = CrossValidation(plan, rows, tmp_path, jobs=1).run()
    speakers = {f["test_speakers"][0] for f in report["folds"]}
    assert report["protocol"] == "leave-one-speaker-out"
    assert len(report["folds"]) == len(speakers) >= 3
    summaries = {(s["row"], s["channel"]): s for s in report["summaries"]}
    assert set(summaries) == {
        (row, channel) for row in ("cnn", "egemaps-logreg") for channel in ("wideband", "telephone")
    }
    for summary in summaries.values():
        assert len(summary["fold_ua"]) == len(report["folds"])
        assert sum(map(sum, summary["confusion"])) == report["utterances"]["tested"]
    assert (tmp_path / "confusion-cnn-wideband.png").stat().st_size > 0
    assert json.loads((tmp_path / "crossval.json").read_text())["summaries"]
    assert "| egemaps-logreg | telephone |" in markdown_table(report)
    assert set(report["selective"]) == {"cnn"}  # the gate exists for the network only
    gate = report["selective"]["cnn"]["wideband"]
    assert len(gate["folds"]) == len(report["folds"])
    assert 0.0 <= gate["mean"]["aurc"] <= 1.0
    assert 0.0 < gate["mean"]["threshold_coverage"] <= 1.0
    assert (tmp_path / "risk-coverage-cnn.png").stat().st_size > 0
    assert "| cnn | telephone |" in selective_table(report)
    # A speaker-normalised row is also read as a live stream and as fresh streams.
    assert set(report["readings"]) == {"cnn"}
    readings = report["readings"]["cnn"]
    assert set(readings) == {"offline", "stream", "fresh"}
    for channel in ("wideband", "telephone"):
        offline = summaries[("cnn", channel)]["ua_mean"]
        assert readings["offline"][channel]["ua_mean"] == pytest.approx(offline)
        assert all(0.0 <= readings[r][channel]["ua_mean"] <= 1.0 for r in readings)
    assert "| cnn | telephone |" in readings_table(report)

    # A finished fold is read back, not retrained: rewrite one and see it reported.
    fold_file = tmp_path / "cnn" / "fold00.json"
    result = json.loads(fold_file.read_text())
    result["predicted"]["wideband"] = result["true"]
    fold_file.write_text(json.dumps(result))
    again = CrossValidation(plan, rows, tmp_path, jobs=1).run()
    wideband = next(
        s for s in again["summaries"] if (s["row"], s["channel"]) == ("cnn", "wideband")
    )
    assert wideband["fold_ua"][0] == 1.0


def test_the_cli_cross_validates_variants_and_the_reference(tiny_corpus, tmp_path):
    variant = tmp_path / "quick.toml"
    variant.write_text("epochs = 1\ncrop_seconds = 0.5\nbatch_size = 16\n")
    run = [sys.executable, "-m", "streamser", "evaluate", "--cv", "loso"]
    output = tmp_path / "cv"
    done = subprocess.run(
        [*run, str(tiny_corpus), "--variant", str(variant), "--reference", "svm",
         "--classes", "4", "-o", str(output)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "leave-one-speaker-out" in done.stdout
    table = (output / "crossval.md").read_text()
    for row in ("quick", "egemaps-svm"):
        assert f"| {row} | wideband |" in table
    assert "| quick | telephone |" in table  # the gate's table

    for arguments, message in (
        ([], "--cv needs the corpora to cross-validate"),
        ([str(tiny_corpus), "--reference", "forest"], "--reference 'forest'"),
        ([str(tiny_corpus), "--variant", str(tmp_path / "none.toml")], "none.toml: cannot read"),
    ):
        failed = subprocess.run([*run, *arguments], capture_output=True, text=True)
        assert failed.returncode == 2, failed.stderr
        assert message in failed.stderr
        assert "Traceback" not in failed.stderr
