from __future__ import annotations

import logging
from pathlib import Path

import pytest

from streamser.labels import ANGRY, FEMALE, HAPPY, MALE, NEUTRAL, SAD, UNKNOWN_GENDER
from training.corpora import CorpusError, load_cremad

DEMOGRAPHICS = (
    "ActorID,Age,Sex,Race,Ethnicity\n"
    "1001,51,Male,Caucasian,Not Hispanic\n"
    "1002,21,Female,Caucasian,Not Hispanic\n"
)


@pytest.fixture
def cremad(tmp_path: Path, make_wav) -> Path:
    root = tmp_path / "CREMA-D"
    for name in (
        "1001_DFA_ANG_XX.wav",
        "1002_IEO_HAP_HI.wav",
        "1002_TIE_NEU_XX.wav",
        "1091_WSI_SAD_LO.wav",
    ):
        make_wav(root / "AudioWAV" / name)
    (root / "AudioWAV" / "1076_MTI_SAD_XX.wav").write_bytes(b"")  # empty in the real corpus
    (root / "VideoDemographics.csv").write_text(DEMOGRAPHICS)
    return root


def test_parses_names_and_genders(cremad: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        got = {u.path.stem: u for u in load_cremad(cremad)}
    assert {
        k: (u.emotion, u.speaker, u.gender, u.text_id, u.condition) for k, u in got.items()
    } == {
        "1001_DFA_ANG_XX": (ANGRY, "cremad:1001", MALE, "DFA", "unspecified"),
        "1002_IEO_HAP_HI": (HAPPY, "cremad:1002", FEMALE, "IEO", "high"),
        "1002_TIE_NEU_XX": (NEUTRAL, "cremad:1002", FEMALE, "TIE", "unspecified"),
        # 1091 is not in the demographics table.
        "1091_WSI_SAD_LO": (SAD, "cremad:1091", UNKNOWN_GENDER, "WSI", "low"),
    }
    assert "skipped 1 empty .wav" in caplog.text


def test_audio_folder_itself_finds_demographics_next_to_it(cremad: Path) -> None:
    got = {u.path.stem: u.gender for u in load_cremad(cremad / "AudioWAV")}
    assert got["1001_DFA_ANG_XX"] == MALE


def test_without_demographics_gender_is_unknown(cremad: Path) -> None:
    (cremad / "VideoDemographics.csv").unlink()
    assert {u.gender for u in load_cremad(cremad)} == {UNKNOWN_GENDER}


def test_demographics_without_sex_column_is_an_error(cremad: Path) -> None:
    (cremad / "VideoDemographics.csv").write_text("ActorID,Age\n1001,51\n")
    with pytest.raises(
        CorpusError, match=r"VideoDemographics\.csv: expected columns ActorID and Sex"
    ):
        load_cremad(cremad)


def test_wrong_folder_is_an_error(tmp_path: Path, make_wav) -> None:
    make_wav(tmp_path / "AudioWAV" / "angry_01.wav")
    with pytest.raises(CorpusError) as info:
        load_cremad(tmp_path)
    assert str(info.value).startswith(f"{tmp_path}/: no CREMA-D files found")
