"""Bundled models by name: `--model fast|accurate|PATH` and `streamser models`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.tiny_model import build_tiny_model

import streamser.models as models
from streamser.cli.main import main
from streamser.errors import ModelError
from streamser.models import bundled_model_path, default_model_path, resolve_model
from streamser.models.catalog import MODEL_NAMES, headline


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    """A bundled-models folder holding a tiny `fast` model and its evaluation only."""
    build_tiny_model(tmp_path / "default.onnx", name="tiny-fast")
    evaluation = {
        "shipped": {"variant": "row"},
        "crossval": {
            "4-class": {
                "summaries": [
                    {"row": "row", "channel": "wideband", "ua_mean": 0.7},
                    {"row": "row", "channel": "telephone", "ua_mean": 0.6},
                    {"row": "other", "channel": "wideband", "ua_mean": 0.1},
                ]
            }
        },
        "cross_domain": {"synthemo-only -> emodb": {"wideband": {"unweighted_accuracy": 0.5}}},
    }
    (tmp_path / "default-evaluation.json").write_text(json.dumps(evaluation))
    monkeypatch.setattr(models, "_model_folders", lambda: [tmp_path])
    return tmp_path


def test_names_paths_and_the_default_resolve_to_files(folder):
    assert resolve_model(None) == default_model_path() == folder / "default.onnx"
    assert resolve_model("fast") == folder / "default.onnx"
    assert resolve_model("fast.onnx") == Path("fast.onnx")
    assert resolve_model("./fast") == Path("./fast")  # a file named like a model
    assert resolve_model(Path("accurate")) == Path("accurate")  # a path is never a name


def test_an_unknown_name_lists_the_bundled_ones(folder):
    with pytest.raises(ModelError, match="no bundled model 'medium' \\(bundled: fast, accurate\\)"):
        bundled_model_path("medium")


def test_a_bundled_model_that_is_not_installed_says_how_to_make_it(folder):
    with pytest.raises(ModelError, match=r"accurate\.onnx.*not installed.*make-accurate-model"):
        resolve_model("accurate")
    (folder / "accurate.onnx").write_bytes((folder / "default.onnx").read_bytes())
    assert resolve_model("accurate") == folder / "accurate.onnx"


def test_the_headline_is_the_shipped_rows_and_missing_numbers_are_none(folder):
    numbers = headline(json.loads((folder / "default-evaluation.json").read_text()))
    assert numbers == {
        "loso_wideband": 0.7,
        "loso_telephone": 0.6,
        "loso_7_class": None,
        "synthetic_wideband": 0.5,
        "synthetic_telephone": None,
    }
    assert headline({})["loso_wideband"] is None


def test_streamser_models_lists_every_name_with_what_it_knows(folder, capsys):
    assert main(["models", "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["name"] for r in records] == list(MODEL_NAMES)
    fast, accurate = records
    assert fast["installed"] and fast["model"] == "tiny-fast"
    assert fast["labels"] == ["neutral", "happy", "angry", "sad"]
    assert fast["accuracy"]["loso_wideband"] == 0.7
    assert fast["cpu_ms_per_3s_utterance"] > 0
    assert not accurate["installed"] and "make-accurate-model" in accurate["problem"]

    assert main(["models", "--no-timing"]) == 0
    table = capsys.readouterr().out
    assert "0.700 / 0.600" in table and "accurate  not installed" in table


def test_listen_names_a_model_that_is_not_installed_in_one_line(folder, capsys):
    assert main(["listen", "--model", "accurate", "--demo", "--format", "jsonl"]) == 2
    assert "accurate.onnx" in capsys.readouterr().err
