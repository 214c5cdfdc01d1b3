from __future__ import annotations

import logging
from pathlib import Path

import pytest

from streamser.labels import ANGRY, DISGUST, FEAR, HAPPY, SAD, SURPRISE, UNKNOWN_GENDER
from training.corpora import CorpusError, load_enterface


def _clip(root: Path, relative: str, make_wav, *, audio: bool = True) -> None:
    """An original .avi plus, when `audio`, the .wav extracted next to it."""
    avi = root / relative
    avi.parent.mkdir(parents=True, exist_ok=True)
    avi.write_bytes(b"RIFF\x00\x00\x00\x00AVI ")
    if audio:
        make_wav(avi.with_suffix(".wav"))


@pytest.fixture
def enterface(tmp_path: Path, make_wav) -> Path:
    root = tmp_path / "enterface database"
    for relative in (
        "subject 1/anger/sentence 1/s1_an_1.avi",
        "subject 1/disgust/sentence 2/s1_di_2.avi",
        "subject 12/happiness/sentence 5/s12_ha_5.avi",
        "subject 44/sadness/sentence 3/s44_sa_3.avi",
        # Subject 23 has no sentence folders in some copies.
        "subject 23/fear/s23_fe_4.avi",
        # A file whose name drifted from the pattern: the folders still say it all.
        "subject 7/surprise/sentence 1/s7_su_1 (2).avi",
    ):
        _clip(root, relative, make_wav)
    _clip(root, "subject 2/anger/sentence 1/s2_an_1.avi", make_wav, audio=False)
    return root


def test_labels_come_from_folders(enterface: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        utterances = load_enterface(enterface)
    got = {u.path.relative_to(enterface).as_posix(): u for u in utterances}
    summary = {k: (u.emotion, u.speaker, u.text_id) for k, u in got.items()}
    assert summary == {
        "subject 1/anger/sentence 1/s1_an_1.wav": (ANGRY, "enterface:01", "an_1"),
        "subject 1/disgust/sentence 2/s1_di_2.wav": (DISGUST, "enterface:01", "di_2"),
        "subject 12/happiness/sentence 5/s12_ha_5.wav": (HAPPY, "enterface:12", "ha_5"),
        "subject 44/sadness/sentence 3/s44_sa_3.wav": (SAD, "enterface:44", "sa_3"),
        "subject 23/fear/s23_fe_4.wav": (FEAR, "enterface:23", "fe_4"),
        "subject 7/surprise/sentence 1/s7_su_1 (2).wav": (SURPRISE, "enterface:07", "su_1"),
    }
    assert {u.gender for u in utterances} == {UNKNOWN_GENDER}
    # The clip whose audio was never extracted is reported, not silently lost.
    assert "1 .avi file(s) have no extracted .wav" in caplog.text


def test_flat_wavs_fall_back_on_the_file_name(tmp_path: Path, make_wav) -> None:
    make_wav(tmp_path / "s3_ha_2.wav")
    (utterance,) = load_enterface(tmp_path)
    assert (utterance.emotion, utterance.speaker, utterance.text_id) == (
        HAPPY,
        "enterface:03",
        "ha_2",
    )


def test_video_only_copy_says_how_to_extract_audio(tmp_path: Path, make_wav) -> None:
    _clip(tmp_path, "subject 1/anger/sentence 1/s1_an_1.avi", make_wav, audio=False)
    with pytest.raises(CorpusError) as info:
        load_enterface(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path}/: 1 eNTERFACE .avi files but no .wav")
    assert "ffmpeg -i x.avi -ac 1 -ar 16000 x.wav" in message


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no eNTERFACE files found"):
        load_enterface(tmp_path)
