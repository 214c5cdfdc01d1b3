"""RAVDESS, the Ryerson Audio-Visual Database of Emotional Speech and Song (Livingstone
and Russo, 2018).

24 actors (odd numbers male, even female) say two English statements in eight
emotions at two intensities. The name `Actor_01/03-01-05-01-02-01-01.wav` is
modality-channel-emotion-intensity-statement-repetition-actor; only modality 03
(audio-only) is audio, so the video files of the full release are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

from streamser.labels import (
    ANGRY,
    CALM,
    DISGUST,
    FEAR,
    FEMALE,
    HAPPY,
    MALE,
    NEUTRAL,
    SAD,
    SURPRISE,
)
from training.corpora.base import CorpusError, Utterance, parsed_files, require_dir

NAME = "ravdess"

EMOTION_CODES: dict[str, str] = {
    "01": NEUTRAL,
    "02": CALM,
    "03": HAPPY,
    "04": SAD,
    "05": ANGRY,
    "06": FEAR,  # "fearful"
    "07": DISGUST,
    "08": SURPRISE,  # "surprised"
}
CLASSES: tuple[str, ...] = (NEUTRAL, CALM, HAPPY, SAD, ANGRY, FEAR, DISGUST, SURPRISE)

AUDIO_ONLY = "03"
_CHANNELS = {"01": "speech", "02": "song"}
_INTENSITIES = {"01": "normal", "02": "strong"}

_FILE = re.compile(
    r"(?P<modality>0[1-3])-(?P<channel>0[12])-(?P<emotion>0[1-8])-(?P<intensity>0[12])"
    r"-(?P<statement>0[12])-(?P<repetition>0[12])-(?P<actor>\d{2})"
)


def _audio_only(path: Path) -> re.Match | None:
    match = _FILE.fullmatch(path.stem)
    return match if match is not None and match["modality"] == AUDIO_ONLY else None


def load_ravdess(root: Path | str, *, song: bool = False) -> list[Utterance]:
    """List RAVDESS's audio-only recordings.

    Args:
        root: The folder holding `Actor_01/` ... `Actor_24/` (the unpacked
            Audio_Speech_Actors_01-24.zip, optionally with the song archive).
        song: Also keep the sung recordings (vocal channel 02), which most speech
            emotion work leaves out.

    Returns:
        One record per kept file, sorted by path; `text_id` is the statement ("01"
        or "02") and `condition` is "<channel>-<intensity>", e.g. "speech-strong".

    Raises:
        CorpusError: `root` is not a directory or holds no RAVDESS audio files.
    """
    root = require_dir(root, "the RAVDESS folder holding Actor_01/03-01-05-01-02-01-01.wav")
    utterances: list[Utterance] = []
    for path, match in parsed_files(root, NAME, _audio_only):
        channel = _CHANNELS[match["channel"]]
        if channel == "song" and not song:
            continue
        actor = match["actor"]
        utterances.append(
            Utterance(
                path=path,
                emotion=EMOTION_CODES[match["emotion"]],
                speaker=f"{NAME}:{actor}",
                gender=MALE if int(actor) % 2 == 1 else FEMALE,
                corpus=NAME,
                text_id=match["statement"],
                language="en",
                condition=f"{channel}-{_INTENSITIES[match['intensity']]}",
                extra={"repetition": match["repetition"]},
            )
        )
    if not utterances:
        raise CorpusError(
            f"{root}/: no RAVDESS audio files found "
            "(expected Actor_01/03-01-05-01-02-01-01.wav style names, modality 03)"
        )
    return utterances
