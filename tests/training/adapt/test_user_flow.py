"""The user's flow in docs/CROSS_CORPUS.md: the commands it runs, the transcript it leaves
(no machine path in it) and the expectations the report computes for the default row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.adapt.cli import DEFAULT_FEATURES, DEFAULT_IDA_SOLVER, DEFAULT_METHOD
from training.adapt.tasks import TABLE
from training.adapt.user_flow import COST, TRANSCRIPT, flow, longest, placeholders
from training.adapt.user_report import (
    cost,
    coverage_note,
    default_row,
    expectations,
    pairwise,
    transcript,
    user_section,
)


def test_the_flow_compares_the_default_with_a_second_seed_and_source_only_before_export():
    out = Path("runs/mine")
    steps = flow(Path("e"), Path("s"), Path("rec"), out, [Path("rec/a.wav")])
    assert [s[0] for s in steps] == ["adapt", "adapt", "adapt", "export", "listen", "listen"]
    assert steps[0][steps[0].index("--method") + 1] == "source-only"
    assert "--method" not in steps[1] and "--method" not in steps[2]  # the default method
    assert steps[1][steps[1].index("--seed") + 1] == "1"
    compared = [steps[2][i + 1] for i, a in enumerate(steps[2]) if a == "--compare"]
    assert compared == [str(out / "seed1" / "adapt.pt"), str(out / "source-only" / "adapt.pt")]
    assert steps[3] == ["export", str(out / "seed0" / "adapt.pt"), "-o", str(out / "mine.onnx")]
    assert [s[2] for s in steps[4:]] == [str(out / "mine.onnx"), "fast"]
    assert all("--source" in s and "manifest=s/manifest.csv" in s for s in steps[:3])


def test_the_longest_recordings_are_listened_to(tmp_path):
    for name, size in (("a.wav", 10), ("b.wav", 30), ("c/d.wav", 20), ("e.txt", 99)):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x" * size)
    assert longest(tmp_path, 2) == [tmp_path / "b.wav", tmp_path / "c" / "d.wav"]


def test_the_transcript_names_folders_by_placeholders_only(tmp_path):
    emodb = tmp_path / "data" / "emodb"
    text = f"$ streamser adapt --source emodb={emodb} --target {tmp_path}/rec\n{emodb}/wav"
    names = {emodb: "EMODB", tmp_path / "rec": "RECORDINGS"}
    out = placeholders(text, names)
    assert out == "$ streamser adapt --source emodb=EMODB --target RECORDINGS\nEMODB/wav"
    assert str(tmp_path) not in out


def ivr_run(row: str, seed: int, predicted, neutral: float, uncertain: float) -> dict:
    return dict(
        task="synthemo+emodb->ivr",
        part=TABLE,
        row=row,
        seed=seed,
        weight=1.0,
        predicted=predicted,
        neutral=neutral,
        uncertain=uncertain,
    )


def headline_run(row: str, seed: int, ua: float) -> dict:
    return dict(task="synthemo->emodb", part=TABLE, row=row, seed=seed, weight=1.0, ua=ua)


def test_the_expectations_come_from_the_default_rows_runs():
    row = default_row()
    assert (DEFAULT_METHOD, DEFAULT_IDA_SOLVER, row) == ("didan", "sparse", "didan-sparse")
    table = [
        ivr_run(row, 0, [0, 0, 1, 2], 0.5, 0.2),
        ivr_run(row, 1, [0, 0, 1, 3], 0.3, 0.4),
        ivr_run("source-only", 0, [3, 3, 3, 3], 0.0, 0.1),
        ivr_run("source-only", 1, [0, 3, 3, 3], 0.25, 0.1),
        headline_run(row, 0, 0.36),
        headline_run(row, 1, 0.40),
        headline_run("source-only", 0, 0.30),
    ]
    text = expectations(table)
    assert f"(**{row}**, {DEFAULT_FEATURES} features, 2 seeds)" in text
    assert "(SynthEmo → EmoDB), it reached 38.0 % UAR over four classes (chance: 25 %)" in text
    assert "against 30.0 % for source-only" in text
    assert "neutral 40 % (source-only 12 %)" in text
    assert "source-calibrated gate 70 % (source-only 90 %)" in text
    assert "agreement between seeds 75 %, with source-only of the same seed 25 %" in text
    runs = [r for r in table if r["row"] == row and "predicted" in r]
    assert np.isclose(pairwise(runs), 75.0)


def test_without_runs_or_transcript_the_section_says_so(tmp_path):
    assert "has not been run" in expectations([])
    assert "has not been run" in transcript(tmp_path)
    (tmp_path / TRANSCRIPT).write_text("$ streamser adapt\nsource (train) UA 0.800\n")
    quoted = transcript(tmp_path)
    assert "    $ streamser adapt\n    source (train) UA 0.800" in quoted


def test_a_lower_gate_coverage_after_adaptation_is_explained_only_when_it_happens():
    adapted = [ivr_run(default_row(), 0, [0], 0.5, 0.9)]
    alone = [ivr_run("source-only", 0, [3], 0.0, 0.1)]
    assert "accepted fewer IVR prompts than source-only's" in coverage_note(adapted, alone)
    assert coverage_note(alone, adapted) == ""


def test_the_section_expects_what_the_default_input_did_and_quotes_the_measured_cost(tmp_path):
    row = default_row()
    tables = {
        "log-mel": [headline_run(row, 0, 0.30), headline_run("source-only", 0, 0.30)],
        "encoder": [headline_run(row, 0, 0.60), headline_run("source-only", 0, 0.40)],
    }
    tables = {k: [*v, ivr_run(row, 0, [0], 0.5, 0.5)] for k, v in tables.items()}
    ua = {"log-mel": "30.0", "encoder": "60.0"}[DEFAULT_FEATURES]
    text = user_section(tables, tmp_path)
    assert f"--features {DEFAULT_FEATURES}`" in text
    assert f"it reached {ua} % UAR" in text
    assert cost(tmp_path) == "" and "costs, measured" not in text
    report = {
        "machine": {"cpu": "Some CPU", "cores": 2},
        "model": {"file_mb": 8.04, "threads": 1},
        "inference_ms": {
            "1s": {"p50": 61.2, "p95": 80.0},
            "3s": {"p50": 70.4, "p95": 90.1},
            "8s": {"p50": 95.0, "p95": 120.0},
        },
        "realtime_factor": {"audio_s": 60.0, "rtf": 0.0421},
    }
    measured = {"command": "bin/bench --model mine.onnx", "load_average": [6.9, 7.4]}
    (tmp_path / COST).write_text(json.dumps({**measured, "report": report}))
    text = cost(tmp_path)
    assert "measured after the flow by `bin/bench --model mine.onnx`: 8.0 MB" in text
    assert "median 61 ms at 1 s (p95 80), 70 ms at 3 s (p95 90), 95 ms at 8 s" in text
    assert "a 1-minute file at 0.042 x real time" in text
    assert "2-core Some CPU, one-minute load average 6.9 before and 7.4 after" in text
