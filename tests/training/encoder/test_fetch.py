"""Fetching the encoder: the pinned wheel, verified file by file, with its licences."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest

from streamser.errors import StreamserError
from training.encoder.fetch import (
    ENCODER_ENV,
    MEMBERS,
    SOURCE_FILE,
    WHEEL,
    WHEEL_SHA256,
    cached_encoder,
    encoder_folder,
    encoder_path,
    fetch_encoder,
    sha256_of,
)


def test_the_fetched_encoder_is_the_pinned_file_with_both_licences(fetched_encoder):
    assert sha256_of(fetched_encoder.onnx) == MEMBERS[fetched_encoder.onnx.name][1]
    smart_turn, whisper = (path.read_text() for path in fetched_encoder.licences)
    assert "BSD 2-Clause" in smart_turn and "Daily" in smart_turn
    assert "MIT License" in whisper and "OpenAI" in whisper
    source = json.loads((fetched_encoder.folder / SOURCE_FILE).read_text())
    assert source["wheel_sha256"] == WHEEL_SHA256
    assert source["package"] == "pipecat-ai==1.14.0"


def test_a_cached_file_that_changed_is_refused(fetched_encoder, tmp_path):
    copy = encoder_folder(tmp_path)
    shutil.copytree(fetched_encoder.folder, copy)
    assert cached_encoder(tmp_path).onnx == copy / fetched_encoder.onnx.name
    features = copy / fetched_encoder.features.name
    features.write_text(features.read_text() + "\n# edited\n")
    with pytest.raises(StreamserError, match="sha256 differs from the pinned file"):
        cached_encoder(tmp_path)


def test_an_empty_cache_names_the_command_that_fills_it(tmp_path):
    with pytest.raises(StreamserError, match="run bin/fetch-encoder"):
        cached_encoder(tmp_path)


def test_a_wheel_that_is_not_the_pinned_one_is_refused_and_nothing_is_cached(tmp_path):
    wheel = tmp_path / WHEEL
    with zipfile.ZipFile(wheel, "w") as archive:
        for member, _ in MEMBERS.values():
            archive.writestr(member, b"not the encoder")
    with pytest.raises(StreamserError, match="not the pinned"):
        fetch_encoder(tmp_path / "cache", wheel)
    assert not encoder_folder(tmp_path / "cache").exists()


def test_an_encoder_named_in_the_environment_is_used_as_it_is(tmp_path, monkeypatch):
    stand_in = tmp_path / "stand-in.onnx"
    monkeypatch.setenv(ENCODER_ENV, str(stand_in))
    with pytest.raises(StreamserError, match="no such file"):
        encoder_path()
    stand_in.write_bytes(b"any file of the same interface")
    assert encoder_path() == stand_in
