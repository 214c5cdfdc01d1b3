"""The real-speech protocol: splits, the runner's use of labels, weight choice, the paired
bootstrap and the generated report, on tiny stand-in caches."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score

from training.adapt.develop import centres, choose_weights, development_jobs, grid_weights
from training.adapt.experiment import config_for, job, run_job
from training.adapt.significance import paired_bootstrap, unweighted_recall
from training.adapt.tasks import (
    CLASSES,
    DEVELOPMENT,
    DEVELOPMENT_TASKS,
    TABLE,
    TABLE_TASKS,
    parts_of,
    synthemo_development_voices,
)
from training.adapt.trainer import AdaptConfig
from training.corpora import Utterance


def utterance(speaker: str, corpus: str = "c", emotion: str = "sad") -> Utterance:
    return Utterance(
        path=f"{speaker}.wav", emotion=emotion, speaker=speaker, gender="unknown", corpus=corpus
    )


def test_development_and_table_parts_have_no_speaker_in_common():
    emodb = [utterance(f"emodb:{n:02d}") for n in (3, 8, 9, 10, 11, 12, 13, 14, 15, 16)]
    parts = parts_of("emodb", emodb)
    assert [u.speaker for u, p in zip(emodb, parts, strict=True) if p == DEVELOPMENT] == [
        "emodb:03",
        "emodb:08",
        "emodb:09",
    ]
    voices = [utterance(f"{e}-{v}", corpus=e) for e in ("espeak", "flite") for v in "abcdefg"]
    development = synthemo_development_voices(voices)
    assert development == {"espeak-a", "espeak-d", "espeak-g", "flite-a", "flite-d", "flite-g"}
    parts = parts_of("synthemo", voices)
    assert {u.speaker for u, p in zip(voices, parts, strict=True) if p == TABLE}.isdisjoint(
        development
    )
    assert set(parts_of("ivr", voices)) == {TABLE}
    assert all(t.part == DEVELOPMENT and t.labelled for t in DEVELOPMENT_TASKS)
    assert {t.name for t in DEVELOPMENT_TASKS} < {t.name for t in TABLE_TASKS}


def fake_cache(path, emotions, parts, seed: int, shift: float = 0.0):
    """A corpus cache of random pooled maps whose class shows in a band of the map."""
    g = torch.Generator().manual_seed(seed)
    maps = []
    for i, emotion in enumerate(emotions):
        m = torch.randn(32, 30 + i % 7, generator=g) + shift
        if emotion in CLASSES:
            k = CLASSES.index(emotion)
            m[8 * k : 8 * k + 8] += 1.5
        maps.append(m)
    torch.save(
        {"maps": maps, "part": parts, "speaker": ["s"] * len(maps), "emotion": emotions}, path
    )
    return path


def caches(tmp_path, target_emotions=None):
    emotions = [CLASSES[i % 4] for i in range(24)] + ["fear"] * 4
    source = fake_cache(tmp_path / "s.pt", emotions, [TABLE] * 28, seed=0)
    target_emotions = target_emotions or emotions
    parts = [DEVELOPMENT if i % 2 else TABLE for i in range(28)]
    target = fake_cache(tmp_path / "t.pt", target_emotions, parts, seed=1, shift=0.5)
    return {"synthemo": source, "emodb": target}


def small(row: str, seed: int = 0, weight: float = 1.0) -> AdaptConfig:
    base = AdaptConfig(steps=3, batch_size=8, crop_frames=20)
    return config_for(row, base, seed, weight)


def test_the_runner_adapts_to_the_whole_target_part_and_reads_its_labels_only_to_score(tmp_path):
    task = TABLE_TASKS[0]  # synthemo -> emodb
    row = run_job(job(task, "didan", small("didan"), caches(tmp_path)))
    assert row["pool"] == 14  # the table part, fear included
    assert len(row["scored"]) == 12 and len(row["truth"]) == 12  # fear is not scored
    assert 0 <= row["ua"] <= 1 and len(row["predicted"]) == 14
    # Relabel the target completely: the adapted model's outputs do not change, the score does.
    relabelled = (
        caches(tmp_path / "x", ["neutral"] * 28) if (tmp_path / "x").mkdir() is None else None
    )
    again = run_job(job(task, "didan", small("didan"), relabelled))
    assert again["predicted"] == row["predicted"]
    assert again["truth"] != row["truth"]
    json.dumps(row)


def test_the_unlabelled_task_reports_shares_and_no_accuracy(tmp_path):
    paths = caches(tmp_path)
    data = torch.load(paths["emodb"])
    torch.save({**data, "emotion": None, "part": [TABLE] * 28}, tmp_path / "ivr.pt")
    paths["ivr"] = tmp_path / "ivr.pt"
    row = run_job(job(TABLE_TASKS[2], "source-only", small("source-only"), paths))
    assert "ua" not in row and "truth" not in row
    assert 0 <= row["neutral"] <= row["neutral_or_uncertain"] <= 1
    assert 0 <= row["uncertain"] <= 1 and row["weight"] == 0


def test_grid_centres_come_from_the_pilot_and_the_rule_keeps_the_source_fit():
    pilot = [
        dict(row="mmd", weight=1.0, seed=0, first_losses={"grad_emotion": 0.8, "grad_align": 0.01}),
        dict(row="mmd", weight=1.0, seed=0, first_losses={"grad_emotion": 1.2, "grad_align": 0.01}),
        dict(
            row="coral", weight=1.0, seed=0, first_losses={"grad_emotion": 1.0, "grad_align": 2e-3}
        ),
    ]
    assert centres(pilot) == {"mmd": 100.0, "coral": 1000.0}
    assert grid_weights(100.0) == (1.0, 10.0, 100.0, 1000.0)

    def result(row, weight, ua, source_ua, task="a->b"):
        return dict(task=task, row=row, seed=0, weight=weight, ua=ua, source_ua=source_ua)

    rows = [result("source-only", 0.0, 0.50, 0.96), result("joint-batch", 0.0, 0.55, 0.96)]
    rows += [result("didan", 1.0, 0.60, 0.95), result("didan", 10.0, 0.60, 0.94)]  # tie
    rows += [result("didan", 100.0, 0.80, 0.80)]  # best target, lost the source fit
    rows += [result("mmd", 1.0, 0.70, 0.85), result("mmd", 10.0, 0.75, 0.70)]  # none fits
    rows += [result("coral", 10.0, 0.70, 0.96), result("coral", 100.0, 0.99, 0.96, "x->y")]
    assert choose_weights(rows) == {"didan": 1.0, "mmd": 1.0, "coral": 10.0}
    assert choose_weights(rows, {"didan": (10.0, 100.0)}) == {"didan": 10.0}
    jobs = development_jobs({"synthemo": "s", "emodb": "e"}, AdaptConfig(), {"mmd": 1.0}, (0,))
    assert {j["task"]["part"] for j in jobs} == {DEVELOPMENT}
    assert {(j["row"], AdaptConfig.from_dict(j["config"]).weight) for j in jobs} == {
        ("source-only", 0.0),
        ("joint-batch", 0.0),
        ("mmd", 0.01),
        ("mmd", 0.1),
        ("mmd", 1.0),
        ("mmd", 10.0),
    }


def test_unweighted_recall_is_balanced_accuracy():
    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    ours = unweighted_recall(truth, predicted, np.ones((1, 50)), 4)[0]
    assert ours == pytest.approx(balanced_accuracy_score(truth, predicted))


def test_paired_bootstrap_finds_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 4, 200)
    noisy = [np.where(rng.random(200) < 0.4, truth, rng.integers(0, 4, 200)) for _ in range(3)]
    better = [np.where(rng.random(200) < 0.8, truth, p) for p in noisy]
    same = paired_bootstrap(truth, noisy, noisy, 4)
    assert same.difference == 0 and same.p_value == 1.0 and same.low == same.high == 0
    gain = paired_bootstrap(truth, better, noisy, 4)
    assert gain.difference > 20 and gain.low > 0 and gain.p_value < 0.01
    assert gain.utterances == 200 and gain.seeds == 3
    with pytest.raises(ValueError, match="same seeds"):
        paired_bootstrap(truth, better, noisy[:2], 4)


def table_row(task, row, seed, ua, predicted, truth=None, **extra):
    scored = list(range(len(predicted)))
    base = dict(
        task=task,
        part=TABLE,
        row=row,
        seed=seed,
        weight=0.0 if row == "source-only" else 1.0,
        steps=3,
        source_ua=0.9,
        predicted=predicted,
        neutral=0.5,
        uncertain=0.1,
        neutral_or_uncertain=0.55,
        final_losses={"emotion": 0.1},
    )
    if truth is not None:
        base.update(ua=ua, scored=scored, truth=truth)
    return {**base, **extra}


def test_the_report_is_generated_from_the_results(tmp_path):
    from training.adapt.report import write_report

    truth = [0, 1, 2, 3] * 5
    table = []
    for seed, (a, b) in enumerate([(0.30, 0.40), (0.32, 0.44)]):
        for task in ("synthemo->emodb", "emodb->synthemo"):
            table.append(table_row(task, "source-only", seed, a, [0] * 20, truth))
            table.append(table_row(task, "mmd", seed, b, truth, truth))
        table.append(table_row("synthemo+emodb->ivr", "mmd", seed, None, [seed] * 10))
    path = write_report([], table, tmp_path / "CC.md", AdaptConfig(), ["source-only", "mmd"])
    text = path.read_text()
    assert "| source-only | 0 | 31.0 ± 1.0 | 31.0 ± 1.0 |" in text
    assert (
        "| mmd | 1 | 42.0 ± 2.0 | 42.0 ± 2.0 | 50.0 ± 0.0 | 10.0 ± 0.0 | 55.0 ± 0.0 | 90.0 |"
        in text
    )
    assert "Best row on synthemo → emodb: **mmd**, 42.0 %" in text and "+11.0 points" in text
    assert "+75.0 (" in text  # the bootstrap works on predictions: 100 % against 25 %
    assert "mmd 0 %" in text  # two seeds that never agree on the IVR prompts
