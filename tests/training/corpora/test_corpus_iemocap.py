from __future__ import annotations

import logging
from pathlib import Path

import pytest

from streamser.labels import ANGRY, FEMALE, HAPPY, MALE, NEUTRAL, SAD, SURPRISE
from training.corpora import CorpusError, load_iemocap

HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"

# session -> dialog -> [(turn, code)]
LABELS = {
    "Session1": {
        "Ses01F_impro01": [
            ("Ses01F_impro01_F000", "neu"),
            ("Ses01F_impro01_M003", "exc"),
            ("Ses01F_impro01_F001", "fru"),
            ("Ses01F_impro01_M004", "xxx"),
        ],
        "Ses01F_script01_1": [
            ("Ses01F_script01_1_F000", "ang"),
            ("Ses01F_script01_1_M010", "sur"),
        ],
    },
    "Session2": {
        "Ses02M_impro03": [
            ("Ses02M_impro03_M001", "hap"),
            ("Ses02M_impro03_F002", "sad"),
            ("Ses02M_impro03_F003", "oth"),
        ],
    },
}


def _label_file(turns: list[tuple[str, str]]) -> str:
    lines = [HEADER]
    for i, (turn, code) in enumerate(turns):
        lines.append(
            f"[{i * 3 + 0.5:.4f} - {i * 3 + 2.25:.4f}]\t{turn}\t{code}\t[2.5000, 3.0000, 2.5000]\n"
        )
        lines.append("C-E2:\tNeutral;\t()\n")
        lines.append("A-F1:\tval 3; act 3; dom  3;\t()\n\n")
    return "".join(lines)


@pytest.fixture
def iemocap(tmp_path: Path, make_wav) -> Path:
    root = tmp_path / "IEMOCAP_full_release"
    for session, dialogs in LABELS.items():
        evaluation = root / session / "dialog" / "EmoEvaluation"
        (evaluation / "Categorical").mkdir(parents=True)
        (evaluation / "Categorical" / "Ses01F_impro01_e2_cat.txt").write_text("ignored\n")
        for dialog, turns in dialogs.items():
            (evaluation / f"{dialog}.txt").write_text(_label_file(turns))
            for turn, _ in turns:
                make_wav(root / session / "sentences" / "wav" / dialog / f"{turn}.wav")
    (root / "Documentation").mkdir()
    return root


def _by_turn(utterances) -> dict:
    return {u.path.stem: u for u in utterances}


def test_four_class_merges_excited_and_drops_the_rest(iemocap: Path) -> None:
    got = _by_turn(load_iemocap(iemocap))
    assert {k: u.emotion for k, u in got.items()} == {
        "Ses01F_impro01_F000": NEUTRAL,
        "Ses01F_impro01_M003": HAPPY,  # exc merged into happy
        "Ses01F_script01_1_F000": ANGRY,
        "Ses02M_impro03_M001": HAPPY,
        "Ses02M_impro03_F002": SAD,
    }  # fru, xxx, sur and oth dropped


def test_speaker_is_session_plus_the_turns_own_gender(iemocap: Path) -> None:
    got = _by_turn(load_iemocap(iemocap))
    male_in_female_dialog = got["Ses01F_impro01_M003"]
    assert male_in_female_dialog.speaker == "iemocap:Ses01M"
    assert male_in_female_dialog.gender == MALE
    assert got["Ses02M_impro03_F002"].speaker == "iemocap:Ses02F"
    assert got["Ses02M_impro03_F002"].gender == FEMALE
    assert got["Ses01F_impro01_F000"].session == "Session1"
    assert got["Ses02M_impro03_M001"].session == "Session2"
    assert got["Ses01F_impro01_F000"].path == (
        iemocap / "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav"
    )


def test_condition_and_improvised_only(iemocap: Path) -> None:
    everything = _by_turn(load_iemocap(iemocap))
    assert everything["Ses01F_script01_1_F000"].condition == "scripted"
    assert everything["Ses01F_impro01_F000"].condition == "improvised"
    improvised = load_iemocap(iemocap, improvised_only=True)
    assert {u.condition for u in improvised} == {"improvised"}
    assert len(improvised) == len(everything) - 1


def test_full_label_set_keeps_surprise_but_not_frustration(iemocap: Path) -> None:
    got = _by_turn(load_iemocap(iemocap, label_set="full"))
    assert got["Ses01F_script01_1_M010"].emotion == SURPRISE
    assert "Ses01F_impro01_F001" not in got  # fru has no canonical name
    assert got["Ses01F_impro01_M003"].extra["label"] == "exc"


def test_turn_without_audio_is_skipped_and_counted(iemocap: Path, caplog) -> None:
    (iemocap / "Session2/sentences/wav/Ses02M_impro03/Ses02M_impro03_F002.wav").unlink()
    with caplog.at_level(logging.WARNING):
        got = _by_turn(load_iemocap(iemocap))
    assert "Ses02M_impro03_F002" not in got
    assert "1 labelled turn(s) have no audio" in caplog.text


def test_unknown_label_code_names_file_and_line(iemocap: Path) -> None:
    label_file = iemocap / "Session2/dialog/EmoEvaluation/Ses02M_impro03.txt"
    label_file.write_text(HEADER + "[1.0000 - 2.0000]\tSes02M_impro03_M001\tjoy\t[1, 2, 3]\n")
    with pytest.raises(CorpusError, match=r"Ses02M_impro03\.txt:3: unknown IEMOCAP label 'joy'"):
        load_iemocap(iemocap)


def test_wrong_folder_says_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "wav").mkdir()
    with pytest.raises(CorpusError) as info:
        load_iemocap(tmp_path)
    assert str(info.value).startswith(f"{tmp_path}/: no IEMOCAP sessions found")
    assert "Session1" in str(info.value)


def test_session_without_labels_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "Session1" / "sentences" / "wav").mkdir(parents=True)
    with pytest.raises(CorpusError, match="EmoEvaluation/: no IEMOCAP label files"):
        load_iemocap(tmp_path)


def test_bad_label_set_is_rejected(iemocap: Path) -> None:
    with pytest.raises(ValueError, match="label_set"):
        load_iemocap(iemocap, label_set="six")  # type: ignore[arg-type]
