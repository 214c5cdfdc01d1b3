"""DIDAN adaptation: the IDA loss, the baselines, every method end to end on tiny data, export."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime
import pytest
import torch

from streamser.metadata import METADATA_KEY, ModelMetadata
from training.adapt.baselines import DomainClassifier, coral_loss, mmd_loss
from training.adapt.checkpoint import (
    AdaptCheckpoint,
    is_adapt_checkpoint,
    load_adapt_checkpoint,
    save_adapt_checkpoint,
)
from training.adapt.data import CorpusSpec, MapBank, shared_emotions
from training.adapt.ida import class_aware_ida_loss, ida_loss
from training.adapt.network import DidanConfig, DidanNet
from training.adapt.trainer import METHODS, AdaptConfig, IdaOptions, adapt, score

CLASSES = ("neutral", "happy", "angry", "sad")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def in_and_out_of_span(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    source = torch.randn(8, 64, generator=g)  # 8 rows span 8 of 64 dimensions
    inside = torch.randn(6, 8, generator=g) @ source
    outside = torch.randn(6, 64, generator=g)
    return source, inside, outside


@pytest.mark.parametrize("solver", ["ridge", "sparse"])
def test_ida_is_near_zero_in_the_span_and_clearly_positive_outside(solver):
    source, inside, outside = in_and_out_of_span()
    options = dict(solver=solver, ridge=1e-4, l1=1e-4, fista_steps=300)
    assert ida_loss(source, inside, **options) < 0.02
    assert ida_loss(source, outside, **options) > 0.5  # about 1 - 8/64 of each row is unexplained


def test_ida_cannot_be_won_by_shrinking_the_features():
    source, _, outside = in_and_out_of_span()
    full = ida_loss(source, outside)
    assert torch.isclose(ida_loss(0.01 * source, 0.01 * outside), full, rtol=1e-4)
    assert torch.isclose(ida_loss(source, outside, normalise=False), full, rtol=0.5)


@pytest.mark.parametrize("solver", ["ridge", "sparse"])
def test_ida_gradients_reach_source_and_target(solver):
    source, _, outside = in_and_out_of_span()
    source.requires_grad_(True)
    outside.requires_grad_(True)
    ida_loss(source, outside, solver=solver).backward()
    assert source.grad.abs().sum() > 0 and outside.grad.abs().sum() > 0
    assert torch.isfinite(source.grad).all() and torch.isfinite(outside.grad).all()


def test_ida_ridge_gradient_is_the_value_function_gradient():
    """A treated as a constant: exact for the ridge objective (Danskin); check by finite differences."""
    g = torch.Generator().manual_seed(1)
    source = torch.randn(5, 12, generator=g, dtype=torch.float64)
    target = torch.randn(4, 12, generator=g, dtype=torch.float64, requires_grad=True)
    ida_loss(source, target, ridge=0.3).backward()
    direction = torch.randn(4, 12, generator=g, dtype=torch.float64)
    eps = 1e-6
    with torch.no_grad():
        plus = ida_loss(source, target + eps * direction, ridge=0.3)
        minus = ida_loss(source, target - eps * direction, ridge=0.3)
    numeric = (plus - minus) / (2 * eps)
    assert torch.isclose((target.grad * direction).sum(), numeric, rtol=1e-4)


def test_class_aware_ida_matches_classes():
    g = torch.Generator().manual_seed(2)
    basis = torch.randn(2, 4, 32, generator=g)  # two classes, each its own 4-d subspace
    source = torch.cat([basis[0], basis[1]])
    labels = torch.tensor([0] * 4 + [1] * 4)
    target = torch.cat([torch.randn(3, 4, generator=g) @ basis[k] for k in (0, 1)])
    right = torch.tensor([0] * 3 + [1] * 3)
    options = dict(ridge=1e-4)
    assert class_aware_ida_loss(source, labels, target, right, **options) < 0.02
    assert class_aware_ida_loss(source, labels, target, 1 - right, **options) > 0.5
    assert class_aware_ida_loss(source, labels, target, torch.full((6,), 3), **options) is None


def test_baselines_vanish_on_identical_batches_and_grow_with_a_shift():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(32, 16, generator=g)
    y = torch.randn(32, 16, generator=g)
    assert mmd_loss(x, x) < 1e-6 and coral_loss(x, x) < 1e-9
    assert mmd_loss(x, y + 2) > 10 * mmd_loss(x, y)
    assert coral_loss(x, 3 * y) > 10 * coral_loss(x, y)
    x.requires_grad_(True)
    DomainClassifier(16).loss(x, y, coefficient=1.0).backward()
    assert x.grad.abs().sum() > 0


def tiny_banks(seed: int = 0):
    """Two corpora of pooled maps; the target is the source pattern with a level and tilt shift."""
    g = torch.Generator().manual_seed(seed)

    def bank(shift: float) -> MapBank:
        maps = []
        for i in range(24):
            m = torch.randn(32, 30 + i % 20, generator=g)
            m[(i % 4) * 8 : (i % 4 + 1) * 8] += 1.5
            maps.append(m + shift * torch.linspace(-1, 1, 32)[:, None])
        return MapBank(maps, torch.arange(24) % 4)

    return bank(0.0), bank(0.8)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_a_few_steps(method):
    source, target = tiny_banks()
    ida = IdaOptions(class_aware=True, warmup_fraction=0.5)
    config = AdaptConfig(method=method, steps=6, batch_size=8, crop_frames=20, ida=ida)
    run = adapt(config, CLASSES, source, target)
    assert len(run.history) >= 1 and all(np.isfinite(v) for v in run.history[-1].values())
    assert ("align" in run.history[-1]) == (method != "source-only")
    logits, embeddings = score(run.model, target)
    assert logits.shape == (len(target), 4)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_sparse_solver_runs_in_training():
    source, target = tiny_banks(1)
    config = AdaptConfig(steps=4, batch_size=8, crop_frames=20, ida=IdaOptions(solver="sparse"))
    assert "align" in adapt(config, CLASSES, source, target).history[-1]


def test_maps_are_what_the_exported_network_computes():
    model = DidanNet(DidanConfig(classes=CLASSES)).eval()
    waveform = 0.1 * torch.randn(1, 16000)
    with torch.no_grad():
        direct = model(waveform).logits
        cached = model.head(model.maps(waveform)).logits
        short = model(0.1 * torch.randn(1, model.min_samples))
    torch.testing.assert_close(direct, cached)
    assert short.logits.shape == (1, 4)


def test_corpus_specs_select_a_manifest_corpus(tmp_path):
    import soundfile

    rows = ["path,emotion,speaker,corpus"]
    for i, (corpus, emotion) in enumerate(
        [("a", "happy"), ("a", "sad"), ("b", "sad"), ("b", "angry")]
    ):
        soundfile.write(tmp_path / f"{i}.wav", np.zeros(1600, np.int16), 16000)
        rows.append(f"{i}.wav,{emotion},s{i},{corpus}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    a = CorpusSpec.parse(f"a={tmp_path}").load()
    b = CorpusSpec.parse(f"b={tmp_path / 'manifest.csv'}").load()
    assert {u.corpus for u in a} == {"a"} and len(b) == 2
    assert shared_emotions([u.emotion for u in a], [u.emotion for u in b]) == ("sad",)
    with pytest.raises(Exception, match="no rows of corpus 'c'"):
        CorpusSpec.parse(f"c={tmp_path}").load()
    with pytest.raises(Exception, match="NAME=PATH"):
        CorpusSpec.parse("nothing")


def test_adapt_checkpoint_round_trip(tmp_path):
    source, target = tiny_banks(2)
    config = AdaptConfig(method="didan", steps=3, batch_size=8, crop_frames=20)
    run = adapt(config, CLASSES, source, target)
    logits, embeddings = score(run.model, target)
    checkpoint = AdaptCheckpoint(
        adapt_config=config.to_dict(),
        model_config=run.model.config.to_dict(),
        model_state=run.model.state_dict(),
        source={"name": "synthemo-espeak", "utterances": len(source)},
        target={"name": "synthemo-flite", "utterances": len(target)},
        history=run.history,
        target_logits=logits,
        target_embeddings=embeddings,
        metrics={"source_train_ua": 0.5},
    )
    path = save_adapt_checkpoint(checkpoint, tmp_path / "adapt.pt")
    assert is_adapt_checkpoint(path)
    restored = load_adapt_checkpoint(path).build_model()
    with torch.no_grad():
        torch.testing.assert_close(
            restored.head(target.maps[0][None]).logits, torch.from_numpy(logits[:1])
        )


def tone_corpus(root, corpora=("tones-a", "tones-b")):
    """A manifest of two tiny 'corpora': per-emotion tones, the second one a fifth higher."""
    import soundfile

    rows = ["path,emotion,speaker,corpus"]
    rng = np.random.default_rng(0)
    t = np.arange(8000) / 16000
    for c, corpus in enumerate(corpora):
        for k, emotion in enumerate(CLASSES):
            for i in range(6):
                f0 = (150 + 60 * k) * (1.5 if c else 1.0) * (1 + 0.03 * i)
                audio = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal(len(t))
                name = f"{corpus}-{emotion}-{i}.wav"
                soundfile.write(root / name, audio.astype(np.float32), 16000, subtype="PCM_16")
                rows.append(f"{name},{emotion},{corpus}-{i % 3},{corpus}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


def test_streamser_adapt_then_export(tmp_path, capsys):
    from streamser.cli.main import main

    manifest = tone_corpus(tmp_path)
    run_dir = tmp_path / "run"
    argv = ["adapt", "--source", f"tones-a={manifest}", "--target", f"tones-b={manifest}"]
    argv += ["--method", "lidan", "--steps", "4", "-o", str(run_dir), "--threads", "1"]
    assert main(argv) == 0
    assert "tones-a -> tones-b" in capsys.readouterr().out
    assert main(["export", str(run_dir / "adapt.pt"), "-o", str(tmp_path / "m.onnx")]) == 0
    session = onnxruntime.InferenceSession(
        str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]
    )
    metadata = ModelMetadata.from_json(session.get_modelmeta().custom_metadata_map[METADATA_KEY])
    assert metadata.training["corpora"] == ["tones-a", "tones-b"]
    assert metadata.training["source"]["name"] == "tones-a"
    target = metadata.training["target"]
    assert (target["name"], target["utterances"], target["files"]) == ("tones-b", 24, 24)
    assert metadata.training["method"] == "lidan" and metadata.labels == CLASSES
    json.dumps(metadata.training)
    outputs = session.run(None, {"waveform": 0.1 * np.ones((1, 16000), np.float32)})
    assert outputs[0].shape == (1, 4) and outputs[1].shape == (1, 128)
    assert (
        main(
            [
                "adapt",
                "--source",
                f"tones-a={manifest}",
                "--target",
                f"tones-b={manifest}",
                "--classes",
                "sad,fear",
            ]
        )
        == 2
    )


def test_report_averages_tasks_within_a_seed_then_over_seeds(tmp_path):
    from training.adapt.report import table, write_report

    rows = []
    for method, offset in (("source-only", 0.0), ("didan", 0.1)):
        for seed in (0, 1):
            for task in ("a->b", "b->a"):
                ua = 0.4 + offset + 0.1 * seed + (0.2 if task == "b->a" else 0.0)
                rows.append(
                    dict(
                        task=task,
                        method=method,
                        seed=seed,
                        ua=ua,
                        source_ua=0.9,
                        seconds=1.0,
                        classes=["sad", "happy"],
                    )
                )
    markdown, means = table(rows, ["source-only", "didan"])
    np.testing.assert_allclose(means["source-only"], [50.0, 60.0])
    np.testing.assert_allclose(means["didan"], [60.0, 70.0])
    assert "**55.0 ± 5.0**" in markdown and "a → b" in markdown
    text = write_report({"synthemo": rows}, tmp_path / "CC.md", AdaptConfig()).read_text()
    assert "| didan | +10.0 ± 0.0 | 2/2 |" in text


def test_development_grid_is_the_same_for_every_aligned_method_and_outside_the_table():
    from training.adapt.develop import GRID, LOSS_BALANCED, aligned_methods, development_jobs
    from training.adapt.experiment import SYNTHEMO_CORPORA, TABLE_METHODS

    caches = {code: f"{code}.pt" for code in ("espeak", "flite", "pico")}
    jobs = development_jobs(caches, CLASSES, AdaptConfig(), seeds=(0, 1))
    assert {(j["source"], j["target"]) for j in jobs} == {("espeak", "pico"), ("flite", "pico")}
    assert "pico" not in SYNTHEMO_CORPORA
    assert set(aligned_methods()) == set(TABLE_METHODS) - {"source-only", "joint-batch"}
    weights: dict[str, set[float]] = {}
    for job in jobs:
        config = AdaptConfig.from_dict(job["config"])
        assert job["label"] == config.method or job["label"] in ("didan-sparse", "didan-class")
        weights.setdefault(job["label"], set()).add(config.weight)
    for method in aligned_methods():
        relative = sorted(w / LOSS_BALANCED[method] for w in weights[method] if w > 0)
        np.testing.assert_allclose(relative, GRID, rtol=2e-3)  # 0.01x .. 10x, half decades
    assert weights["source-only"] == {0.0} and 0.0 in weights["didan"]  # reference, control
    assert len(jobs) == 2 * 2 * (2 + len(GRID) * len(aligned_methods()))
    with pytest.raises(ValueError, match="outside the table"):
        development_jobs(caches, CLASSES, AdaptConfig(), target="flite")


def test_weight_choice_is_the_best_development_target_among_weights_that_keep_the_source_fit():
    from training.adapt.develop import choose_weights

    def row(method, weight, ua, source_ua, task="espeak->pico"):
        return dict(task=task, method=method, seed=0, weight=weight, ua=ua, source_ua=source_ua)

    rows = [row("source-only", 0.0, 0.50, 0.96)]
    rows += [row("didan", 0.0, 0.55, 0.96)]  # the control is never chosen
    rows += [row("didan", 1.0, 0.60, 0.95), row("didan", 10.0, 0.60, 0.94)]  # tie: smaller
    rows += [row("didan", 100.0, 0.80, 0.80)]  # best target, but loses the source fit
    rows += [row("mmd", 1.0, 0.70, 0.85), row("mmd", 10.0, 0.75, 0.70)]  # none fits
    rows += [row("coral", 10.0, 0.70, 0.96)]
    rows += [row("coral", 100.0, 0.99, 0.96, task="x->pico")]  # incomplete: one task only
    chosen = choose_weights(rows, ["didan", "mmd", "coral"])
    assert chosen == {"didan": 1.0, "mmd": 1.0, "coral": 10.0}
    assert choose_weights(rows, ["didan"], tolerance=20.0) == {"didan": 100.0}


def test_rows_made_with_another_weight_are_neither_reused_nor_reported():
    from training.adapt.experiment import current_rows, row_key, run_key
    from training.adapt.trainer import DEFAULT_WEIGHTS

    base = AdaptConfig()
    now = dict(task="a->b", method="didan", seed=0, weight=DEFAULT_WEIGHTS["didan"])
    stale = dict(now, weight=DEFAULT_WEIGHTS["didan"] * 10 + 1)
    unknown = {k: v for k, v in now.items() if k != "weight"}
    assert current_rows([now, stale, unknown], base) == [now]
    assert row_key(now) == run_key("a->b", "didan", 0, base.weight)
    assert row_key(stale) != row_key(now) and row_key(unknown) != row_key(now)
