"""The accurate tier as a cross-validation row: same folds, channels, scores and gate."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from support.tiny_encoder import write_tiny_encoder

from training.encoder.embeddings import EncoderSetting, cached_embeddings
from training.encoder.fetch import ENCODER_ENV
from training.encoder.graph import LAYER_OUTPUTS, POOLED
from training.encoder.row import MARGIN_LEVELS_DB, MARGIN_SECONDS, with_margins


def test_an_encoder_row_is_cross_validated_like_every_row(tiny_corpus, tiny_encoder, tmp_path):
    head = tmp_path / "quick-head.toml"
    head.write_text("epochs = 4\nhidden = 32\nembedding_dim = 16\n")
    run = [sys.executable, "-m", "streamser", "evaluate", "--cv", "loso", str(tiny_corpus)]
    environment = {**os.environ, ENCODER_ENV: str(tiny_encoder)}
    output = tmp_path / "cv"
    done = subprocess.run(
        [*run, "--head", str(head), "--reference", "none", "-o", str(output)],
        capture_output=True, text=True, env=environment,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((output / "crossval.json").read_text())
    assert list(report["rows"]) == ["quick-head"]  # no default CNN row beside it
    assert report["rows"]["quick-head"]["kind"] == "encoder"
    assert report["rows"]["quick-head"]["settings"]["epochs"] == 4
    channels = {s["channel"] for s in report["summaries"]}
    assert channels == {"wideband", "telephone"}
    for summary in report["summaries"]:
        assert len(summary["fold_ua"]) == len(report["folds"]) >= 3
        assert sum(map(sum, summary["confusion"])) == report["utterances"]["tested"]
    gate = report["selective"]["quick-head"]["telephone"]["mean"]
    assert 0.0 < gate["threshold_coverage"] <= 1.0
    assert "| quick-head | telephone |" in (output / "crossval.md").read_text()
    caches = sorted(p.name.split("-")[0] for p in (output / "embeddings").glob("*.npz"))
    assert caches == ["margins", "telephone", "wideband"]  # a file per channel, every utterance

    # A finished fold is kept only while its vectors are: another encoder trains it again.
    fold = output / "quick-head" / "fold00.json"
    made_from = json.loads(fold.read_text())["settings"]["vectors"]
    other = write_tiny_encoder(tmp_path / "other-encoder.onnx", seed=1)
    again = subprocess.run(
        [*run, "--head", str(head), "--reference", "none", "-o", str(output)],
        capture_output=True, text=True, env={**environment, ENCODER_ENV: str(other)},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(fold.read_text())["settings"]["vectors"] != made_from

    bad = tmp_path / "bad.toml"
    bad.write_text("layers = 3\n")
    failed = subprocess.run(
        [*run, "--head", str(bad)], capture_output=True, text=True, env=environment
    )
    assert failed.returncode == 2
    assert "bad.toml: cannot read head options" in failed.stderr


def test_vectors_are_computed_once_per_utterance_whatever_set_asks(tiny_encoder, tmp_path):
    rng = np.random.default_rng(0)
    clips = {f"u{i}.wav": (rng.standard_normal(8000 + 1000 * i) * 3000).astype(np.int16)
             for i in range(4)}  # fmt: skip
    decoded: list[str] = []

    def audio_of(paths):
        def audio(indices):
            decoded.extend(paths[i] for i in indices)
            return [clips[paths[i]] for i in indices]

        return audio

    setting = EncoderSetting(outputs=(POOLED, LAYER_OUTPUTS[1]))
    first = ["u0.wav", "u1.wav"]
    one = cached_embeddings(tiny_encoder, first, audio_of(first), "wideband", tmp_path, setting)
    assert one[LAYER_OUTPUTS[1]].shape == (2, 768) and one[POOLED].shape == (2, 384)
    second = ["u2.wav", "u1.wav", "u3.wav", "u0.wav"]
    two = cached_embeddings(tiny_encoder, second, audio_of(second), "wideband", tmp_path, setting)
    assert decoded == ["u0.wav", "u1.wav", "u2.wav", "u3.wav"]  # each decoded once
    assert np.array_equal(two[POOLED][[3, 1]], one[POOLED])  # rows follow the request
    again = cached_embeddings(tiny_encoder, second, audio_of(second), "wideband", tmp_path, setting)
    assert decoded == ["u0.wav", "u1.wav", "u2.wav", "u3.wav"]
    assert np.array_equal(again[LAYER_OUTPUTS[1]], two[LAYER_OUTPUTS[1]])


def test_margins_copy_an_utterance_as_the_segmenter_cuts_it_the_same_way_every_time():
    clip = (3000 * np.sin(np.arange(16000) / 10)).astype(np.int16)
    padded = with_margins(clip, "emodb/03a01Fa.wav")
    margin = int(MARGIN_SECONDS * 16000)
    assert len(padded) == len(clip) + 2 * margin
    assert np.array_equal(padded[margin:-margin], clip)
    noise = np.concatenate([padded[:margin], padded[-margin:]]).astype(float)
    level_db = 20 * np.log10(np.sqrt(np.mean(noise**2)) / 32768)
    assert MARGIN_LEVELS_DB[0] - 1 < level_db < MARGIN_LEVELS_DB[1] + 1
    assert np.array_equal(padded, with_margins(clip, "emodb/03a01Fa.wav"))
    assert not np.array_equal(padded, with_margins(clip, "emodb/03a01Fb.wav"))
