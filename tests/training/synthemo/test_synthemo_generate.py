"""Corpora from the real engines: manifest, determinism, resume, and the rules' effect."""

from __future__ import annotations

import csv
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from streamser import labels
from streamser.audio import load_mono
from training.synthemo.conditions import Condition
from training.synthemo.engines import DEFAULT_ENGINES
from training.synthemo.errors import CorpusDirError
from training.synthemo.generate import generate
from training.synthemo.pitch import median_f0
from training.synthemo.plan import MANIFEST_COLUMNS, SynthOptions
from training.synthemo.prosody import EMOTIONS
from training.synthemo.report import analyse_corpus, load_report

pytestmark = pytest.mark.tts

SMALL = SynthOptions(
    per_class=2, conditions=(Condition(), Condition.parse("telephone")), languages=("en", "de")
)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("small")
    generate(SMALL, root, workers=2)
    return root


def read_rows(root: Path) -> list[dict[str, str]]:
    with (root / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def corpus_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "report.json"
    }


def test_small_corpus_has_a_correct_manifest_and_canonical_wavs(small_corpus):
    header = (small_corpus / "manifest.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(MANIFEST_COLUMNS)
    rows = read_rows(small_corpus)
    # espeak-ng en + de, flite en, festival en; 8 emotions; 2 conditions; 2 per class.
    assert len(rows) == 4 * len(EMOTIONS) * 2 * 2
    assert {r["corpus"] for r in rows} == {
        "synthemo-espeak",
        "synthemo-flite",
        "synthemo-festival",
    }
    assert {r["engine"] for r in rows} == {"espeak-ng", "flite", "festival"}
    assert {r["language"] for r in rows if r["engine"] != "espeak-ng"} == {"en"}
    assert {r["language"] for r in rows if r["engine"] == "espeak-ng"} == {"en", "de"}
    assert {r["condition"] for r in rows} == {"clean", "telephone"}
    assert {r["gender"] for r in rows} == {labels.MALE, labels.FEMALE}
    assert {r["emotion"] for r in rows} == set(EMOTIONS)
    for row in rows:
        path = small_corpus / row["path"]
        assert not Path(row["path"]).is_absolute()
        with wave.open(str(path)) as reader:
            assert (reader.getframerate(), reader.getnchannels(), reader.getsampwidth()) == (
                16000,
                1,
                2,
            )
            assert 0.8 < reader.getnframes() / 16000 < 12
    assert not list(small_corpus.rglob("*.partial"))


def test_manifest_loads_with_the_corpus_loader(small_corpus):
    from training.corpora.manifest import load_manifest

    utterances = load_manifest(small_corpus)
    assert len(utterances) == len(read_rows(small_corpus))
    assert {u.extra["engine"] for u in utterances} == {"espeak-ng", "flite", "festival"}


def test_female_voices_speak_higher_than_male_voices(small_corpus):
    rows = [r for r in read_rows(small_corpus) if r["condition"] == "clean"]
    for engine in ("espeak-ng", "flite", "festival"):
        f0 = {
            gender: np.nanmedian(
                [
                    median_f0(load_mono(small_corpus / r["path"]))
                    for r in rows
                    if r["engine"] == engine and r["gender"] == gender
                ]
            )
            for gender in (labels.MALE, labels.FEMALE)
        }
        assert f0[labels.FEMALE] > 1.15 * f0[labels.MALE], engine


def test_same_seed_gives_identical_bytes(small_corpus, tmp_path):
    generate(SMALL, tmp_path / "again", workers=1)
    assert corpus_bytes(tmp_path / "again") == corpus_bytes(small_corpus)


def test_resume_renders_only_what_is_missing(tmp_path):
    options = SynthOptions(
        engines=("espeak-ng", "festival"), per_class=1, emotions=labels.FOUR_CLASS
    )
    root = tmp_path / "corpus"
    first = generate(options, root, workers=2)
    assert (first.written, first.skipped) == (8, 0)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*.wav")}
    victim = sorted(before)[3]
    victim.unlink()
    (root / "synthemo-espeak" / "leftover.wav.partial").write_bytes(b"half a file")
    second = generate(options, root, workers=2)
    assert (second.written, second.skipped) == (1, 7)
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*.wav")}
    assert after.keys() == before.keys()
    assert after[victim][1] == before[victim][1]
    assert all(after[p] == before[p] for p in before if p != victim)
    assert not list(root.rglob("*.partial"))


def test_other_settings_are_refused_in_an_existing_corpus(tmp_path):
    options = SynthOptions(engines=("espeak-ng",), per_class=1, emotions=("neutral",))
    generate(options, tmp_path / "c", workers=1)
    with pytest.raises(CorpusDirError, match="seed"):
        generate(
            SynthOptions(engines=("espeak-ng",), per_class=1, emotions=("neutral",), seed=9),
            tmp_path / "c",
        )
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(CorpusDirError, match="not empty"):
        generate(options, tmp_path / "other")


def test_default_corpora_leave_out_the_non_free_engine():
    assert SynthOptions().engines == ("espeak-ng", "flite", "festival")


def test_report_shows_the_rules_on_every_engine(tmp_path):
    options = SynthOptions(
        engines=(*DEFAULT_ENGINES, "pico"),
        per_class=8,
        emotions=(labels.NEUTRAL, labels.ANGRY, labels.SAD),
        seed=4,
    )
    root = tmp_path / "directions"
    generate(options, root, workers=2)
    report = analyse_corpus(root, workers=2)
    assert json.loads((root / "report.json").read_text())["checks"]
    assert load_report(root) == report
    cells = {(c.corpus, c.emotion): c for c in report.classes}
    assert {c.language for c in report.classes} == {"en"}
    for corpus in ("synthemo-espeak", "synthemo-flite", "synthemo-festival", "synthemo-pico"):
        angry, sad = cells[(corpus, labels.ANGRY)], cells[(corpus, labels.SAD)]
        assert angry.count == sad.count == 8
        assert angry.f0_hz > sad.f0_hz * 1.2, corpus
        assert angry.level_db > sad.level_db + 6, corpus
        assert angry.delta_f0_st > 1.5 and sad.delta_f0_st < -0.5, corpus
        assert sad.rate_ratio < 0.9, corpus
    assert not report.failed, report.failed
    # Per voice too, including those whose F0 goes partly or wholly through sox (flite rms,
    # festival HTS, pico beyond its pitch range).
    rows = read_rows(root)
    for speaker in {r["speaker"] for r in rows}:
        f0 = {
            emotion: np.mean(
                [
                    median_f0(load_mono(root / r["path"]))
                    for r in rows
                    if r["speaker"] == speaker and r["emotion"] == emotion
                ]
            )
            for emotion in (labels.ANGRY, labels.SAD)
        }
        assert f0[labels.ANGRY] > f0[labels.SAD], speaker
