"""EmoDB, the Berlin Database of Emotional Speech (Burkhardt et al., 2005).

Ten actors (five female, five male) speak ten German sentences in seven emotions.
Everything is in the file name, `wav/03a01Fa.wav`: speaker "03", text "a01",
emotion letter "F" (German initials: Freude), version "a".
"""

from __future__ import annotations

import re
from pathlib import Path

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
    SEVEN_CLASS,
    UNKNOWN_GENDER,
)
from training.corpora.base import CorpusError, Utterance, parsed_files, require_dir

NAME = "emodb"

EMOTION_LETTERS: dict[str, str] = {
    "W": ANGRY,  # Wut / Ärger
    "L": BOREDOM,  # Langeweile
    "E": DISGUST,  # Ekel
    "A": FEAR,  # Angst
    "F": HAPPY,  # Freude
    "T": SAD,  # Trauer
    "N": NEUTRAL,
}
CLASSES: tuple[str, ...] = SEVEN_CLASS

SPEAKER_GENDERS: dict[str, str] = {
    "03": MALE,
    "08": FEMALE,
    "09": FEMALE,
    "10": MALE,
    "11": MALE,
    "12": MALE,
    "13": FEMALE,
    "14": FEMALE,
    "15": MALE,
    "16": FEMALE,
}
"""From the corpus documentation (speaker table of the EmoDB web site)."""

_FILE = re.compile(r"(?P<speaker>\d{2})(?P<text>[ab]\d{2})(?P<emotion>[WLEAFTN])(?P<version>[a-z])")


def load_emodb(root: Path | str) -> list[Utterance]:
    """List EmoDB's utterances.

    Args:
        root: The unpacked corpus (the folder holding `wav/`), or `wav/` itself.

    Returns:
        One record per `.wav` file named like `03a01Fa.wav`, sorted by path.

    Raises:
        CorpusError: `root` is not a directory or holds no EmoDB-named files.
    """
    root = require_dir(root, "the EmoDB folder holding wav/03a01Fa.wav style files")
    utterances: list[Utterance] = []
    for path, match in parsed_files(root, NAME, lambda path: _FILE.fullmatch(path.stem)):
        speaker = match["speaker"]
        utterances.append(
            Utterance(
                path=path,
                emotion=EMOTION_LETTERS[match["emotion"]],
                speaker=f"{NAME}:{speaker}",
                gender=SPEAKER_GENDERS.get(speaker, UNKNOWN_GENDER),
                corpus=NAME,
                text_id=match["text"],
                language="de",
                extra={"version": match["version"]},
            )
        )
    if not utterances:
        raise CorpusError(f"{root}/: no EmoDB files found (expected wav/03a01Fa.wav style names)")
    return utterances
