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


def in_and_out_of_span(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    source = torch.randn(8, 64, generator=g)  # 8 rows span 8 of 64 dimensions
    inside = torch.randn(6, 8, generator=g) @ source
    outside = torch.randn(6, 64, generator=g)
    return source, inside, outside


@pytest.mark.parametrize("solver", ["ridge", "sparse"])
def test_the_absolute_reading_is_near_zero_in_the_span_and_clearly_positive_outside(solver):
    source, inside, outside = in_and_out_of_span()
    options = dict(solver=solver, ridge=1e-4, l1=1e-4, fista_steps=300, reference="absolute")
    assert ida_loss(source, inside, **options) < 0.02
    assert ida_loss(source, outside, **options) > 0.5  # about 1 - 8/64 of each row is unexplained


@pytest.mark.parametrize("reference", ["absolute", "relative"])
def test_ida_cannot_be_won_by_shrinking_the_features(reference):
    g = torch.Generator().manual_seed(6)
    basis = torch.randn(64, 64, generator=g)
    if reference == "absolute":  # a target outside the source's span
        source, target = low_rank(8, 8, basis, g), torch.randn(6, 64, generator=g)
    else:  # a target squeezed onto one direction of a source with more batch rows than rank
        source, target = low_rank(16, 3, basis, g), low_rank(8, 1, basis, g)
    full = ida_loss(source, target, reference=reference)
    assert torch.isclose(ida_loss(0.01 * source, 0.01 * target, reference=reference), full)
    assert full > 0.1


@pytest.mark.parametrize("solver", ["ridge", "sparse"])
def test_ida_gradients_reach_source_and_target(solver):
    source, _, outside = in_and_out_of_span()
    source.requires_grad_(True)
    outside.requires_grad_(True)
    ida_loss(source, outside, solver=solver).backward()
    assert source.grad.abs().sum() > 0 and outside.grad.abs().sum() > 0
    assert torch.isfinite(source.grad).all() and torch.isfinite(outside.grad).all()


@pytest.mark.parametrize("reference", ["absolute", "relative"])
def test_ida_ridge_gradient_is_the_value_function_gradient(reference):
    """A treated as a constant: exact for the ridge objective (Danskin); check by finite differences."""
    g = torch.Generator().manual_seed(1)
    source = torch.randn(5, 12, generator=g, dtype=torch.float64)
    target = torch.randn(4, 12, generator=g, dtype=torch.float64, requires_grad=True)
    options = dict(ridge=0.3, reference=reference)
    ida_loss(source, target, **options).backward()
    direction = torch.randn(4, 12, generator=g, dtype=torch.float64)
    eps = 1e-6
    with torch.no_grad():
        plus = ida_loss(source, target + eps * direction, **options)
        minus = ida_loss(source, target - eps * direction, **options)
    numeric = (plus - minus) / (2 * eps)
    assert torch.isclose((target.grad * direction).sum(), numeric, rtol=1e-4)


def test_class_aware_ida_matches_classes():
    g = torch.Generator().manual_seed(2)
    basis = torch.randn(2, 4, 32, generator=g)  # two classes, each its own 4-d subspace
    source = torch.cat([basis[0], basis[1]])
    labels = torch.tensor([0] * 4 + [1] * 4)
    target = torch.cat([torch.randn(3, 4, generator=g) @ basis[k] for k in (0, 1)])
    right = torch.tensor([0] * 3 + [1] * 3)
    options = dict(ridge=1e-4, reference="absolute")
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
    argv += ["--features", "log-mel"]
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


def low_rank(n: int, rank: int, basis: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return torch.randn(n, rank, generator=g) @ basis[:rank]


@pytest.mark.parametrize("solver", ["ridge", "sparse"])
def test_the_absolute_reading_rewards_collapse_and_the_relative_one_does_not(solver):
    """Two samples of one distribution: the absolute error grows with the features' rank
    (so training concentrates them); the relative one stays near zero at every rank."""
    g = torch.Generator().manual_seed(4)
    basis = torch.randn(128, 128, generator=g)
    pairs = {r: (low_rank(32, r, basis, g), low_rank(32, r, basis, g)) for r in (1, 16, 128)}
    absolute = {
        r: float(ida_loss(s, t, solver=solver, reference="absolute")) for r, (s, t) in pairs.items()
    }
    relative = {r: float(ida_loss(s, t, solver=solver)) for r, (s, t) in pairs.items()}
    assert absolute[1] < absolute[16] < absolute[128] and absolute[128] > 0.5
    assert all(abs(v) < 0.05 for v in relative.values())
    squeezed = low_rank(32, 1, basis, g)  # the target on one direction of a rank-16 source
    source = pairs[16][0]
    assert ida_loss(source, squeezed, solver=solver) > 0.3
    assert ida_loss(source, squeezed, solver=solver, reference="absolute") < absolute[16] + 0.01


def test_self_reconstruction_leaves_each_row_out():
    from training.adapt.ida import ridge_reconstruction, sparse_reconstruction

    g = torch.Generator().manual_seed(5)
    s = torch.randn(6, 10, generator=g, dtype=torch.float64)
    a = ridge_reconstruction(s, s, ridge=0.1, exclude_self=True)
    assert torch.all(a.diagonal() == 0)
    for i in range(6):
        others = torch.cat([s[:i], s[i + 1 :]])
        alone = ridge_reconstruction(others, s[i : i + 1], ridge=0.1)[0]
        torch.testing.assert_close(torch.cat([a[i, :i], a[i, i + 1 :]]), alone)
    sparse = sparse_reconstruction(s, s, l1=0.01, ridge=0.1, steps=50, exclude_self=True)
    assert torch.all(sparse.diagonal() == 0) and sparse.abs().sum() > 0
