"""CASIA, the Chinese emotional speech corpus of the Institute of Automation, Chinese
Academy of Sciences.

Four professional speakers read Mandarin texts in six emotions. The labels are in
the directories, `<speaker>/<emotion>/<id>.wav` (e.g. `liuchanhg/angry/201.wav`),
and the file stem is the text number, shared across speakers and emotions.
"""

from __future__ import annotations

from pathlib import Path

from streamser.labels import ANGRY, FEAR, FEMALE, HAPPY, MALE, NEUTRAL, SAD, SURPRISE
from training.corpora.base import CorpusError, Utterance, parsed_files, require_dir

NAME = "casia"

EMOTION_DIRS: dict[str, str] = {
    "angry": ANGRY,
    "fear": FEAR,
    "happy": HAPPY,
    "neutral": NEUTRAL,
    "sad": SAD,
    "surprise": SURPRISE,
}
CLASSES: tuple[str, ...] = (NEUTRAL, HAPPY, ANGRY, SAD, FEAR, SURPRISE)

SPEAKER_GENDERS: dict[str, str] = {
    "liuchanhg": FEMALE,
    "wangzhe": MALE,
    "zhaoquanyin": FEMALE,
    "ZhaoZuoxiang": MALE,
}
"""The speaker folders as the corpus spells them (liuchanhg, not liuchang)."""

# Copies differ in the case of folder names; match them case-insensitively.
_SPEAKERS = {name.lower(): name for name in SPEAKER_GENDERS}


def _emotion_and_speaker(path: Path) -> tuple[str, str] | None:
    """From the folders: <speaker>/<emotion>/<sentence>.wav."""
    emotion = EMOTION_DIRS.get(path.parent.name.lower())
    speaker = _SPEAKERS.get(path.parent.parent.name.lower())
    return None if emotion is None or speaker is None else (emotion, speaker)


def load_casia(root: Path | str) -> list[Utterance]:
    """List CASIA's utterances.

    Args:
        root: The folder holding the four speaker folders (they may sit a few levels
            deeper, as in some archives' `CASIA database/`).

    Returns:
        One record per `<speaker>/<emotion>/<id>.wav`, sorted by path.

    Raises:
        CorpusError: `root` is not a directory or holds no CASIA-shaped files.
    """
    root = require_dir(root, "the CASIA folder holding liuchanhg/angry/201.wav")
    utterances: list[Utterance] = []
    for path, (emotion, speaker) in parsed_files(root, NAME, _emotion_and_speaker):
        utterances.append(
            Utterance(
                path=path,
                emotion=emotion,
                speaker=f"{NAME}:{speaker}",
                gender=SPEAKER_GENDERS[speaker],
                corpus=NAME,
                text_id=path.stem,
                language="zh",
            )
        )
    if not utterances:
        raise CorpusError(
            f"{root}/: no CASIA files found (expected <speaker>/<emotion>/<id>.wav with "
            f"speakers {', '.join(SPEAKER_GENDERS)} and emotions {', '.join(EMOTION_DIRS)})"
        )
    return utterances
