from __future__ import annotations

from pathlib import Path

import pytest

from streamser.labels import (
    ANGRY,
    BOREDOM,
    DISGUST,
    FEAR,
    FEMALE,
    HAPPY,
    MALE,
    NEUTRAL,
    SAD,
)
from training.corpora import CorpusError, load_emodb
from training.corpora.emodb import CLASSES, EMOTION_LETTERS

# (file name, emotion, speaker, gender, text)
FILES = [
    ("03a01Wa.wav", ANGRY, "emodb:03", MALE, "a01"),
    ("08a02Fb.wav", HAPPY, "emodb:08", FEMALE, "a02"),
    ("09b03Tc.wav", SAD, "emodb:09", FEMALE, "b03"),
    ("10a04Ed.wav", DISGUST, "emodb:10", MALE, "a04"),
    ("13b09Aa.wav", FEAR, "emodb:13", FEMALE, "b09"),
    ("15a07La.wav", BOREDOM, "emodb:15", MALE, "a07"),
    ("16b10Nb.wav", NEUTRAL, "emodb:16", FEMALE, "b10"),
]


@pytest.fixture
def emodb(tmp_path: Path, make_wav) -> Path:
    root = tmp_path / "emodb"
    for name, *_ in FILES:
        make_wav(root / "wav" / name)
    # Things a real download has next to the audio, and macOS debris.
    (root / "erkennung.txt").write_text("03a01Wa 100\n")
    (root / "wav" / "._03a01Wa.wav").write_bytes(b"\x00\x05\x16\x07")
    make_wav(root / "wav" / "notes.wav")
    return root


def test_parses_speaker_emotion_gender_and_text(emodb: Path) -> None:
    utterances = load_emodb(emodb)
    got = [(u.path.name, u.emotion, u.speaker, u.gender, u.text_id) for u in utterances]
    assert sorted(got) == sorted(FILES)
    assert all(u.corpus == "emodb" and u.language == "de" for u in utterances)
    assert all(u.session is None for u in utterances)
    assert utterances[0].path == emodb / "wav" / utterances[0].path.name
    assert {u.extra["version"] for u in utterances} == {"a", "b", "c", "d"}


def test_wav_folder_itself_is_accepted(emodb: Path) -> None:
    assert len(load_emodb(emodb / "wav")) == len(FILES)


def test_letters_cover_exactly_the_seven_classes() -> None:
    assert set(EMOTION_LETTERS.values()) == set(CLASSES)
    assert len(CLASSES) == 7


def test_empty_folder_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError) as info:
        load_emodb(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path}/: no EmoDB files found")
    assert "03a01Fa.wav" in message
    assert "\n" not in message


def test_missing_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="not a directory"):
        load_emodb(tmp_path / "nope")
