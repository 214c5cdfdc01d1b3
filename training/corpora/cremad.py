"""CREMA-D, the Crowd-sourced Emotional Multimodal Actors Dataset (Cao et al., 2014).

91 actors say twelve sentences in six emotions. The name
`AudioWAV/1001_DFA_ANG_XX.wav` is actor_sentence_emotion_level, the level being
LO, MD, HI or XX (unspecified). Gender is not in the name but in
`VideoDemographics.csv` (ActorID, Age, Sex, Race, Ethnicity) at the corpus root;
without that file genders are unknown.
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

from streamser.labels import (
    ANGRY,
    DISGUST,
    FEAR,
    FEMALE,
    HAPPY,
    MALE,
    NEUTRAL,
    SAD,
    UNKNOWN_GENDER,
)
from training.corpora.base import CorpusError, Utterance, parsed_files, require_dir

logger = logging.getLogger(__name__)

NAME = "cremad"

EMOTION_CODES: dict[str, str] = {
    "ANG": ANGRY,
    "DIS": DISGUST,
    "FEA": FEAR,
    "HAP": HAPPY,
    "NEU": NEUTRAL,
    "SAD": SAD,
}
CLASSES: tuple[str, ...] = (NEUTRAL, HAPPY, ANGRY, SAD, FEAR, DISGUST)
LEVELS: dict[str, str] = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
DEMOGRAPHICS = "VideoDemographics.csv"

_FILE = re.compile(
    r"(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>ANG|DIS|FEA|HAP|NEU|SAD)"
    r"_(?P<level>LO|MD|HI|XX)"
)
_SEXES = {"male": MALE, "female": FEMALE}


def load_cremad(root: Path | str) -> list[Utterance]:
    """List CREMA-D's audio files.

    Args:
        root: The corpus root holding `AudioWAV/` and `VideoDemographics.csv`
            (`AudioWAV/` itself also works; the CSV is then looked for next to it).

    Returns:
        One record per `.wav`, sorted by path; `text_id` is the sentence code ("DFA")
        and `condition` the intensity level ("high", ..., "unspecified").

    Raises:
        CorpusError: `root` is not a directory, holds no CREMA-D-named files, or
            its demographics CSV lacks the ActorID and Sex columns.
    """
    root = require_dir(root, "the CREMA-D folder holding AudioWAV/1001_DFA_ANG_XX.wav")
    genders = read_demographics(root)
    utterances: list[Utterance] = []
    for path, match in parsed_files(root, NAME, lambda path: _FILE.fullmatch(path.stem)):
        actor = match["actor"]
        utterances.append(
            Utterance(
                path=path,
                emotion=EMOTION_CODES[match["emotion"]],
                speaker=f"{NAME}:{actor}",
                gender=genders.get(actor, UNKNOWN_GENDER),
                corpus=NAME,
                text_id=match["sentence"],
                language="en",
                condition=LEVELS[match["level"]],
            )
        )
    if not utterances:
        raise CorpusError(
            f"{root}/: no CREMA-D files found (expected AudioWAV/1001_DFA_ANG_XX.wav style names)"
        )
    return utterances


def read_demographics(root: Path) -> dict[str, str]:
    """Actor id -> gender from `VideoDemographics.csv` in `root` or its parent, if any."""
    for candidate in (root / DEMOGRAPHICS, root.parent / DEMOGRAPHICS):
        if candidate.is_file():
            break
    else:
        logger.warning("%s: no %s under %s; genders are unknown", NAME, DEMOGRAPHICS, root)
        return {}
    with candidate.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = [name.strip() for name in reader.fieldnames or []]
        if "ActorID" not in fields or "Sex" not in fields:
            raise CorpusError(
                f"{candidate}: expected columns ActorID and Sex, "
                f"found {', '.join(fields) or 'none'}"
            )
        reader.fieldnames = fields
        return {
            row["ActorID"].strip(): _SEXES.get((row["Sex"] or "").strip().lower(), UNKNOWN_GENDER)
            for row in reader
            if row["ActorID"]
        }
