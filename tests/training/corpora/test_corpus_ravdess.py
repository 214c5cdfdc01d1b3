from __future__ import annotations

from pathlib import Path

import pytest

from streamser.labels import ANGRY, CALM, FEAR, FEMALE, MALE, NEUTRAL, SURPRISE
from training.corpora import CorpusError, load_ravdess


@pytest.fixture
def ravdess(tmp_path: Path, make_wav) -> Path:
    root = tmp_path / "Audio_Speech_Actors_01-24"
    for name in (
        "Actor_01/03-01-05-01-02-01-01.wav",  # angry, normal, statement 2, male
        "Actor_02/03-01-02-02-01-02-02.wav",  # calm, strong, female
        "Actor_13/03-01-06-01-01-01-13.wav",  # fearful, male
        "Actor_24/03-01-08-02-02-02-24.wav",  # surprised, female
        "Actor_24/03-01-01-01-01-01-24.wav",  # neutral
        "Actor_01/03-02-05-02-01-01-01.wav",  # song: skipped by default
        "Actor_01/01-01-05-01-02-01-01.wav",  # audio-video modality: not audio-only
    ):
        make_wav(root / name)
    (root / "Actor_01" / "02-01-05-01-02-01-01.mp4").write_bytes(b"\x00" * 8)
    return root


def test_parses_the_seven_part_name(ravdess: Path) -> None:
    got = {u.path.name: u for u in load_ravdess(ravdess)}
    assert set(got) == {
        "03-01-05-01-02-01-01.wav",
        "03-01-02-02-01-02-02.wav",
        "03-01-06-01-01-01-13.wav",
        "03-01-08-02-02-02-24.wav",
        "03-01-01-01-01-01-24.wav",
    }
    angry = got["03-01-05-01-02-01-01.wav"]
    assert (angry.emotion, angry.speaker, angry.gender) == (ANGRY, "ravdess:01", MALE)
    assert (angry.text_id, angry.condition) == ("02", "speech-normal")
    calm = got["03-01-02-02-01-02-02.wav"]
    assert (calm.emotion, calm.speaker, calm.gender) == (CALM, "ravdess:02", FEMALE)
    assert calm.condition == "speech-strong"
    assert calm.extra["repetition"] == "02"
    assert got["03-01-06-01-01-01-13.wav"].emotion == FEAR
    assert got["03-01-06-01-01-01-13.wav"].gender == MALE
    assert got["03-01-08-02-02-02-24.wav"].emotion == SURPRISE
    assert got["03-01-01-01-01-01-24.wav"].emotion == NEUTRAL
    assert got["03-01-01-01-01-01-24.wav"].gender == FEMALE


def test_song_is_opt_in(ravdess: Path) -> None:
    with_song = {u.path.name: u for u in load_ravdess(ravdess, song=True)}
    assert with_song["03-02-05-02-01-01-01.wav"].condition == "song-strong"
    assert len(with_song) == 6


def test_folder_without_audio_only_files_is_an_error(tmp_path: Path, make_wav) -> None:
    make_wav(tmp_path / "Actor_01" / "01-01-05-01-02-01-01.wav")
    with pytest.raises(CorpusError) as info:
        load_ravdess(tmp_path)
    assert str(info.value).startswith(f"{tmp_path}/: no RAVDESS audio files found")
    assert "modality 03" in str(info.value)
