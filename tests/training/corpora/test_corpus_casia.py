from __future__ import annotations

from pathlib import Path

import pytest

from streamser.labels import ANGRY, FEAR, FEMALE, HAPPY, MALE, NEUTRAL, SAD, SURPRISE
from training.corpora import CorpusError, load_casia

FILES = [
    ("liuchanhg/angry/201.wav", ANGRY, "casia:liuchanhg", FEMALE),
    ("wangzhe/fear/202.wav", FEAR, "casia:wangzhe", MALE),
    ("zhaoquanyin/happy/203.wav", HAPPY, "casia:zhaoquanyin", FEMALE),
    ("ZhaoZuoxiang/neutral/204.wav", NEUTRAL, "casia:ZhaoZuoxiang", MALE),
    ("liuchanhg/sad/205.wav", SAD, "casia:liuchanhg", FEMALE),
    ("wangzhe/surprise/206.wav", SURPRISE, "casia:wangzhe", MALE),
]


@pytest.fixture
def casia(tmp_path: Path, make_wav) -> Path:
    root = tmp_path / "CASIA database"
    for name, *_ in FILES:
        make_wav(root / name)
    make_wav(root / "liuchanhg" / "whisper" / "207.wav")  # not an emotion folder
    make_wav(root / "someone" / "angry" / "208.wav")  # not a CASIA speaker
    return root


def test_labels_come_from_speaker_and_emotion_folders(casia: Path) -> None:
    utterances = load_casia(casia)
    got = sorted(
        (u.path.relative_to(casia).as_posix(), u.emotion, u.speaker, u.gender) for u in utterances
    )
    assert got == sorted(FILES)
    assert {u.text_id for u in utterances} == {"201", "202", "203", "204", "205", "206"}
    assert {u.language for u in utterances} == {"zh"}


def test_nested_root_and_folder_case_are_tolerated(tmp_path: Path, make_wav) -> None:
    make_wav(tmp_path / "CASIA" / "6" / "zhaozuoxiang" / "Angry" / "201.wav")
    (utterance,) = load_casia(tmp_path)
    assert (utterance.speaker, utterance.gender, utterance.emotion) == (
        "casia:ZhaoZuoxiang",
        MALE,
        ANGRY,
    )


def test_wrong_folder_lists_the_expected_names(tmp_path: Path, make_wav) -> None:
    make_wav(tmp_path / "angry" / "201.wav")
    with pytest.raises(CorpusError) as info:
        load_casia(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path}/: no CASIA files found")
    assert "liuchanhg" in message and "surprise" in message
