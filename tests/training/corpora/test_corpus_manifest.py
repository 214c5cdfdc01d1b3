from __future__ import annotations

from pathlib import Path

import pytest

from streamser.labels import ANGRY, FEMALE, HAPPY, MALE, SAD, UNKNOWN_GENDER
from training.corpora import CorpusError, load_manifest

SYNTHEMO_HEADER = "path,emotion,speaker,gender,corpus,engine,text_id,language,condition\n"


@pytest.fixture
def synthemo(tmp_path: Path, make_wav) -> Path:
    root = tmp_path / "synth-espeak"
    make_wav(root / "audio" / "0001.wav")
    make_wav(root / "audio" / "0002.wav")
    (root / "manifest.csv").write_text(
        SYNTHEMO_HEADER
        + "audio/0001.wav,angry,espeak-ng:en-us+m3,male,synthemo-espeak,espeak-ng,t01,en,\n"
        + "audio/0002.wav,Happy,espeak-ng:en-us+f2,female,synthemo-espeak,espeak-ng,t02,en,rate+\n"
    )
    return root


def test_reads_synthemo_output_and_keeps_extra_columns(synthemo: Path) -> None:
    first, second = load_manifest(synthemo / "manifest.csv")
    assert first.path == synthemo / "audio" / "0001.wav"
    assert (first.emotion, first.speaker, first.gender) == (ANGRY, "espeak-ng:en-us+m3", MALE)
    assert (first.corpus, first.text_id, first.language) == ("synthemo-espeak", "t01", "en")
    assert first.condition is None  # empty optional value
    assert first.session is None  # absent optional column
    assert first.extra == {"engine": "espeak-ng"}
    assert (second.emotion, second.gender, second.condition) == (HAPPY, FEMALE, "rate+")


def test_folder_with_manifest_csv_is_accepted(synthemo: Path) -> None:
    assert len(load_manifest(synthemo)) == 2


def test_minimal_columns_and_defaults(tmp_path: Path, make_wav) -> None:
    corpus = tmp_path / "callcenter"
    make_wav(corpus / "a.wav")
    (corpus / "labels.csv").write_text("speaker,path,emotion\nagent7,a.wav,sadness\n")
    (utterance,) = load_manifest(corpus)
    assert utterance.emotion == SAD  # alias
    assert utterance.gender == UNKNOWN_GENDER
    assert utterance.corpus == "callcenter"  # the folder name
    assert load_manifest(corpus, corpus="cc")[0].corpus == "cc"


def test_unknown_emotion_names_file_and_line(synthemo: Path) -> None:
    manifest = synthemo / "manifest.csv"
    manifest.write_text(manifest.read_text() + "audio/0001.wav,elated,s,male,c,e,t,en,\n")
    with pytest.raises(CorpusError) as info:
        load_manifest(manifest)
    message = str(info.value)
    assert message.startswith(f"{manifest}:4: unknown emotion 'elated'")
    assert "neutral" in message
    assert "\n" not in message


def test_unknown_gender_is_an_error(synthemo: Path) -> None:
    manifest = synthemo / "manifest.csv"
    manifest.write_text(SYNTHEMO_HEADER + "audio/0001.wav,sad,s,robot,c,e,t,en,\n")
    with pytest.raises(CorpusError, match=r"manifest\.csv:2: unknown gender 'robot'"):
        load_manifest(manifest)


def test_missing_required_column_lists_the_columns(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,emotion\na.wav,sad\n")
    with pytest.raises(CorpusError, match=r"m\.csv: missing column\(s\) speaker"):
        load_manifest(manifest)


def test_empty_required_value_and_missing_audio(tmp_path: Path, make_wav) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,emotion,speaker\na.wav,sad,\n")
    with pytest.raises(CorpusError, match=r"m\.csv:2: empty 'speaker'"):
        load_manifest(manifest)
    manifest.write_text("path,emotion,speaker\na.wav,sad,s1\n")
    with pytest.raises(CorpusError, match=r"m\.csv:2: audio file .*a\.wav does not exist"):
        load_manifest(manifest)
    assert load_manifest(manifest, check_files=False)[0].path == tmp_path / "a.wav"


def test_folder_without_a_manifest_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError) as info:
        load_manifest(tmp_path)
    assert str(info.value).startswith(f"{tmp_path}/: no manifest.csv")
