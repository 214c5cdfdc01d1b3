"""Unlabelled targets: any recordings in, no target label read, the class set from the source."""

from __future__ import annotations

import csv

import numpy as np
import onnxruntime
import pytest
import soundfile

from streamser.metadata import METADATA_KEY, ModelMetadata
from training.adapt.checkpoint import load_adapt_checkpoint
from training.adapt.targets import TargetSpec, load_target

CLASSES = ("neutral", "happy", "angry", "sad")
RATE = 16000


def tone(f0: float, seconds: float = 0.5, rate: int = RATE, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    noise = 0.01 * np.random.default_rng(seed).standard_normal(len(t))
    return (0.3 * np.sin(2 * np.pi * f0 * t) + noise).astype(np.float32)


def write_corpus(root, name: str, shift: float, emotions=CLASSES, per_class: int = 6):
    """Rows (path, emotion, speaker, corpus) of per-emotion tones; files written under root."""
    rows = []
    for k, emotion in enumerate(emotions):
        for i in range(per_class):
            path = f"{name}-{emotion}-{i}.wav"
            f0 = (150 + 60 * k) * shift * (1 + 0.03 * i)
            soundfile.write(root / path, tone(f0, seed=i), RATE, subtype="PCM_16")
            rows.append(
                {"path": path, "emotion": emotion, "speaker": f"{name}-{i % 3}", "corpus": name}
            )
    return rows


def write_csv(path, rows, columns):
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def encoder_features(tmp_path, monkeypatch):
    """`--features encoder` on the tiny stand-in encoder, vectors cached under tmp_path."""
    from support.tiny_encoder import write_tiny_encoder

    from training.encoder.fetch import ENCODER_ENV

    monkeypatch.setenv(ENCODER_ENV, str(write_tiny_encoder(tmp_path / "tiny.onnx")))
    return ["--features", "encoder", "--embeddings", str(tmp_path / "vectors")]


def adapt(tmp_path, target: str, out: str, method: str = "didan", extra=()) -> object:
    from streamser.cli.main import main

    argv = ["adapt", "--source", f"manifest={tmp_path / 'source.csv'}", "--target", target]
    argv += ["--method", method, "--steps", "4", "--threads", "1", "-o", str(tmp_path / out)]
    if "--features" not in extra:  # the small network on log-mel maps (the encoder's default)
        extra = ["--features", "log-mel", *extra]
    assert main([*argv, *extra]) == 0
    return load_adapt_checkpoint(tmp_path / out / "adapt.pt")


def identical(a, b) -> bool:
    same_state = a.model_state.keys() == b.model_state.keys() and all(
        a.model_state[k].equal(b.model_state[k]) for k in a.model_state
    )
    return same_state and np.array_equal(a.target_logits, b.target_logits)


@pytest.mark.parametrize("features", ["log-mel", "encoder"])
def test_shuffling_or_deleting_the_target_labels_gives_a_bit_identical_model(
    tmp_path, capsys, request, features
):
    extra = request.getfixturevalue("encoder_features") if features == "encoder" else []
    source = write_corpus(tmp_path, "src", 1.0)
    write_csv(tmp_path / "source.csv", source, ["path", "emotion", "speaker", "corpus"])
    # The target has an emotion outside the source's classes: it is adapted to all the same.
    target = write_corpus(tmp_path, "tgt", 1.5, (*CLASSES, "fear"), per_class=4)
    columns = ["path", "emotion", "speaker", "corpus"]
    write_csv(tmp_path / "labelled.csv", target, columns)
    shuffled_emotions = np.random.default_rng(0).permutation([r["emotion"] for r in target])
    shuffled = [dict(r, emotion=e) for r, e in zip(target, shuffled_emotions, strict=True)]
    assert any(a["emotion"] != b["emotion"] for a, b in zip(target, shuffled, strict=True))
    write_csv(tmp_path / "shuffled.csv", shuffled, columns)
    write_csv(tmp_path / "deleted.csv", target, ["path", "speaker", "corpus"])
    # The control: leaving out the fear recordings changes the model, so the target is used.
    write_csv(tmp_path / "fewer.csv", [r for r in target if r["emotion"] != "fear"], columns)

    runs = {
        name: adapt(tmp_path, str(tmp_path / f"{name}.csv"), name, method="lidan", extra=extra)
        for name in ("labelled", "shuffled", "deleted", "fewer")
    }
    assert runs["labelled"].model_config["features"] == features
    assert runs["labelled"].adapt_config["features"] == features
    assert identical(runs["labelled"], runs["shuffled"])
    assert identical(runs["labelled"], runs["deleted"])
    assert not identical(runs["labelled"], runs["fewer"])
    assert runs["deleted"].target["utterances"] == len(target) == 20  # fear included
    assert tuple(runs["deleted"].model_config["classes"]) == CLASSES  # from the source
    assert "target_ua" not in str(runs["deleted"].metrics)
    out = capsys.readouterr().out
    assert "target labels:" in out and "neutral or uncertain" in out

    from streamser.cli.main import main

    thresholds = []
    for name in ("labelled", "deleted"):
        model = tmp_path / f"{name}.onnx"
        assert main(["export", str(tmp_path / name / "adapt.pt"), "-o", str(model)]) == 0
        session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        meta = ModelMetadata.from_json(session.get_modelmeta().custom_metadata_map[METADATA_KEY])
        thresholds.append(meta.ood.threshold)
        assert meta.training["target"]["utterances"] == 20
        assert meta.training["features"] == features
    assert thresholds[0] == thresholds[1]  # calibrated on every target utterance, no label


def test_a_labelled_target_and_the_same_recordings_as_a_folder_agree(tmp_path, capsys):
    """The same files in the same order: a manifest's labels change nothing."""
    source = write_corpus(tmp_path, "src", 1.0)
    write_csv(tmp_path / "source.csv", source, ["path", "emotion", "speaker", "corpus"])
    folder = tmp_path / "calls"
    folder.mkdir()
    target = write_corpus(folder, "tgt", 1.5, per_class=3)
    ordered = sorted(target, key=lambda r: str(folder / r["path"]))
    write_csv(folder / "labels.csv", ordered, ["path", "emotion", "speaker"])
    from_manifest = adapt(tmp_path, f"calls={folder / 'labels.csv'}", "m")
    (folder / "labels.csv").unlink()
    capsys.readouterr()
    from_folder = adapt(
        tmp_path, str(folder), "f", extra=["--compare", str(tmp_path / "m/adapt.pt")]
    )
    assert identical(from_manifest, from_folder)
    assert from_folder.target["name"] == "calls"
    out = capsys.readouterr().out
    assert f"agreement with {tmp_path / 'm/adapt.pt'} (didan, seed 0): 100% of target" in out
    from streamser.cli.main import main

    other = ["adapt", "--source", f"manifest={tmp_path / 'source.csv'}", "--steps", "1"]
    other += ["--features", "log-mel"]
    other += ["--target", str(tmp_path / "source.csv"), "-o", str(tmp_path / "o")]
    assert main([*other, "--compare", str(tmp_path / "m/adapt.pt")]) == 2  # another target


def test_a_target_folder_takes_any_rate_channels_format_and_nesting(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    soundfile.write(tmp_path / "a" / "one.wav", tone(200, rate=8000), 8000, subtype="PCM_16")
    stereo = np.stack([tone(220, rate=44100), tone(330, rate=44100)], axis=1)
    soundfile.write(tmp_path / "a" / "b" / "two.FLAC", stereo, 44100)
    (tmp_path / "a" / "broken.wav").write_bytes(b"RIFF not really")
    (tmp_path / "notes.txt").write_text("not audio")
    # A 20 s recording: three voiced bursts with silence between, cut like `listen` would.
    t = np.arange(20 * RATE) / RATE
    voiced = np.zeros_like(t)
    for start in (1.0, 7.0, 14.0):
        on = (t >= start) & (t < start + 2.0)
        phase = 2 * np.pi * np.cumsum(np.where(on, 140.0, 0.0)) / RATE
        voiced += on * sum(np.sin(k * phase) / k for k in range(1, 12))
    soundfile.write(tmp_path / "a" / "call.wav", (0.3 * voiced).astype(np.float32), RATE)

    spec = TargetSpec.parse(str(tmp_path))
    files = spec.files()
    names = [p.relative_to(tmp_path).as_posix() for p in files]
    assert names == ["a/b/two.FLAC", "a/broken.wav", "a/call.wav", "a/one.wav"]
    audio = load_target(files)
    assert [p.name for p, _ in audio.skipped] == ["broken.wav"]
    lengths = {p.name: [] for p in audio.files}
    for clip, origin in zip(audio.clips, audio.origins, strict=True):
        lengths[audio.files[origin].name].append(len(clip) / RATE)
    assert lengths["one.wav"] == [pytest.approx(0.5, abs=0.01)]  # 8 kHz resampled to 16 kHz
    assert lengths["two.FLAC"] == [pytest.approx(0.5, abs=0.01)]
    assert len(lengths["call.wav"]) == 3 and all(1.5 < s < 3.5 for s in lengths["call.wav"])


def test_target_specs_fail_in_one_line(tmp_path):
    from streamser.errors import StreamserError

    (tmp_path / "empty").mkdir()
    with pytest.raises(StreamserError, match="no audio files"):
        TargetSpec.parse(str(tmp_path / "empty")).files()
    with pytest.raises(StreamserError, match="does not exist"):
        TargetSpec.parse(f"x={tmp_path / 'missing'}")
    write_csv(tmp_path / "m.csv", [{"file": "a.wav"}], ["file"])
    with pytest.raises(StreamserError, match="'path' column"):
        TargetSpec.parse(str(tmp_path / "m.csv")).files()
    rows = write_corpus(tmp_path, "c", 1.0, ("sad",), per_class=1)
    write_csv(tmp_path / "c.csv", rows, ["path", "corpus"])
    assert len(TargetSpec.parse(f"c={tmp_path / 'c.csv'}").files()) == 1
    with pytest.raises(StreamserError, match="no rows of corpus 'd'"):
        TargetSpec.parse(f"d={tmp_path / 'c.csv'}").files()
