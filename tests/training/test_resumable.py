"""A recipe's training run is done once, and again only when its settings change."""

from __future__ import annotations

import shutil

from streamser.labels import FOUR_CLASS
from training.checkpoint import load_checkpoint
from training.config import TrainConfig
from training.resumable import FINISHED_MARKER, same_settings, train_once


def _config(corpus, output, **settings) -> TrainConfig:
    return TrainConfig.from_dict(
        {
            "data": (str(corpus),),
            "classes": FOUR_CLASS,
            "epochs": 1,
            "crop_seconds": 0.5,
            "batch_size": 16,
            "threads": 1,
            "output_dir": str(output),
            **settings,
        }
    )


def test_a_finished_run_is_kept_where_it_went_and_trained_again_when_a_setting_changes(
    tiny_corpus, tmp_path, caplog
):
    first = tmp_path / "first"
    best = train_once(_config(tiny_corpus, first))
    assert (first / FINISHED_MARKER).exists()
    written = best.stat().st_mtime_ns

    assert train_once(_config(tiny_corpus, first)) == best
    assert best.stat().st_mtime_ns == written

    moved = tmp_path / "moved"
    shutil.copytree(first, moved)
    kept = train_once(_config(tiny_corpus, moved))
    assert kept.read_bytes() == best.read_bytes()

    with caplog.at_level("INFO", logger="training"):
        train_once(_config(tiny_corpus, moved, epochs=2))
    assert "trained with other settings, training again" in caplog.text
    assert "resuming" not in caplog.text
    retrained = load_checkpoint(moved / "last.pt")
    assert (retrained.train_config["epochs"], retrained.epoch) == (2, 1)
    assert (moved / FINISHED_MARKER).exists()


def test_settings_compare_through_the_config_so_tuples_and_lists_agree():
    saved = TrainConfig.from_dict({"data": ("emodb=x",), "output_dir": "a"}).to_dict()
    assert same_settings(saved, {**saved, "data": ["emodb=x"], "output_dir": "b"})
    assert not same_settings(saved, {**saved, "epochs": saved["epochs"] + 1})
