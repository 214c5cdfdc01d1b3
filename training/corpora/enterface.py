r"""eNTERFACE'05, the audio-visual emotion database (Martin et al., 2006).

Subjects from 14 nations speak English sentences in six emotions, filed as
`subject 1/anger/sentence 1/s1_an_1.avi`. The corpus ships as video only: extract
the audio next to each .avi first, with the same stem, for example::

    ffmpeg -i s1_an_1.avi -ac 1 -ar 16000 s1_an_1.wav

or for the whole tree (README.md in this folder has the same line)::

    find . -name '*.avi' -exec sh -c 'ffmpeg -i "$1" -ac 1 -ar 16000 "${1%.avi}.wav"' _ {} \;

Copies in circulation are irregular (there is no subject 6; some subjects have no
`sentence N/` folders, e.g. subject 23 in some copies; file names drift from the
`s1_an_1` pattern), so labels come from the folder names first and the file name
only fills in what the folders lack. Subject genders are not published, so every
record has `UNKNOWN_GENDER`.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from streamser.labels import ANGRY, DISGUST, FEAR, HAPPY, SAD, SURPRISE, UNKNOWN_GENDER
from training.corpora.base import CorpusError, Utterance, audio_files, log_ignored, require_dir

logger = logging.getLogger(__name__)

NAME = "enterface"

EMOTION_DIRS: dict[str, str] = {
    "anger": ANGRY,
    "disgust": DISGUST,
    "fear": FEAR,
    "happiness": HAPPY,
    "sadness": SAD,
    "surprise": SURPRISE,
}
EMOTION_CODES: dict[str, str] = {
    "an": ANGRY,
    "di": DISGUST,
    "fe": FEAR,
    "ha": HAPPY,
    "sa": SAD,
    "su": SURPRISE,
}
CLASSES: tuple[str, ...] = (HAPPY, ANGRY, SAD, FEAR, DISGUST, SURPRISE)
_CODES = {emotion: code for code, emotion in EMOTION_CODES.items()}

_SUBJECT_DIR = re.compile(r"subject[\s_-]*(\d+)", re.IGNORECASE)
_SENTENCE_DIR = re.compile(r"sentence[\s_-]*(\d+)", re.IGNORECASE)
_FILE = re.compile(
    r"s[\s_-]*(?P<subject>\d+)[\s_-]*(?P<code>an|di|fe|ha|sa|su)[\s_-]*(?P<sentence>\d+)?.*",
    re.IGNORECASE,
)


def load_enterface(root: Path | str) -> list[Utterance]:
    """List eNTERFACE'05's utterances from the .wav files extracted from its videos.

    Args:
        root: The folder holding `subject 1/` ... `subject 44/`.

    Returns:
        One record per `.wav`, sorted by path; `text_id` is "<code>_<sentence>"
        ("an_1"), since each emotion has its own five sentences.

    Raises:
        CorpusError: `root` is not a directory, or holds no usable .wav files (with
            the ffmpeg hint when it holds only the original .avi files).
    """
    root = require_dir(root, "the eNTERFACE'05 folder holding 'subject 1/anger/sentence 1/'")
    utterances: list[Utterance] = []
    ignored: list[Path] = []
    wavs = audio_files(root, NAME)
    for path in wavs:
        record = _parse(root, path)
        if record is None:
            ignored.append(path)
        else:
            utterances.append(record)
    log_ignored(NAME, root, ignored)

    have_audio = {p.with_suffix("") for p in wavs}
    videos = [p for p in audio_files(root, NAME, ".avi") if p.with_suffix("") not in have_audio]
    if videos and utterances:
        logger.warning(
            "%s: %d .avi file(s) have no extracted .wav next to them, e.g. %s",
            NAME,
            len(videos),
            videos[0],
        )
    if not utterances:
        if videos:
            raise CorpusError(
                f"{root}/: {len(videos)} eNTERFACE .avi files but no .wav; extract the audio "
                "first: ffmpeg -i x.avi -ac 1 -ar 16000 x.wav (same folder, same stem)"
            )
        raise CorpusError(
            f"{root}/: no eNTERFACE files found "
            "(expected 'subject 1/anger/sentence 1/s1_an_1.wav' style names)"
        )
    return utterances


def _parse(root: Path, path: Path) -> Utterance | None:
    """Read subject, emotion and sentence from the folders, falling back on the name."""
    subject = emotion = sentence = None
    for part in path.relative_to(root).parts[:-1]:
        if (match := _SUBJECT_DIR.fullmatch(part.strip())) is not None:
            subject = int(match[1])
        elif (match := _SENTENCE_DIR.fullmatch(part.strip())) is not None:
            sentence = int(match[1])
        elif part.lower() in EMOTION_DIRS:
            emotion = EMOTION_DIRS[part.lower()]
    name = _FILE.fullmatch(path.stem.strip())
    if name is not None:
        subject = subject if subject is not None else int(name["subject"])
        emotion = emotion or EMOTION_CODES[name["code"].lower()]
        if sentence is None and name["sentence"] is not None:
            sentence = int(name["sentence"])
    if subject is None or emotion is None:
        return None
    return Utterance(
        path=path,
        emotion=emotion,
        speaker=f"{NAME}:{subject:02d}",
        gender=UNKNOWN_GENDER,
        corpus=NAME,
        text_id=f"{_CODES[emotion]}_{sentence}" if sentence is not None else None,
        language="en",
    )
