"""IEMOCAP, the Interactive Emotional Dyadic Motion Capture database (Busso et al., 2008).

Five sessions, each a female and a male actor in improvised and scripted dialogs.
Audio is cut per turn in `SessionN/sentences/wav/<dialog>/<utterance>.wav`; the
consensus label of each turn is in `SessionN/dialog/EmoEvaluation/<dialog>.txt`,
on tab-separated lines like::

    [6.2901 - 8.2357]  Ses01F_impro01_F000  neu  [2.5000, 2.5000, 2.5000]

The dialog name says who wore the motion-capture markers (Ses01F), not who speaks:
the speaker is the letter before the turn number (Ses01F_impro01_M003 is Ses01M).

The usual 4-class protocol merges "exc" (excited) into happy and drops the rest.
The "full" label set adds fear, disgust and surprise; frustration ("fru"), other
("oth") and no-majority ("xxx") have no name in `streamser.labels` and are always
dropped, and so are turns whose audio is missing (counted in a warning).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Literal

from streamser.labels import (
    ANGRY,
    DISGUST,
    FEAR,
    FEMALE,
    FOUR_CLASS,
    HAPPY,
    MALE,
    NEUTRAL,
    SAD,
    SURPRISE,
)
from training.corpora.base import CorpusError, Utterance, require_dir

logger = logging.getLogger(__name__)

NAME = "iemocap"

FOUR_CLASS_MAP: dict[str, str] = {
    "neu": NEUTRAL,
    "hap": HAPPY,
    "exc": HAPPY,
    "ang": ANGRY,
    "sad": SAD,
}
FULL_MAP: dict[str, str] = {**FOUR_CLASS_MAP, "fea": FEAR, "dis": DISGUST, "sur": SURPRISE}
KNOWN_CODES: frozenset[str] = frozenset({*FULL_MAP, "fru", "oth", "xxx"})

CLASSES: tuple[str, ...] = FOUR_CLASS
FULL_CLASSES: tuple[str, ...] = (NEUTRAL, HAPPY, ANGRY, SAD, FEAR, DISGUST, SURPRISE)

_SESSION_DIR = re.compile(r"Session(\d+)")
_LABEL_LINE = re.compile(r"\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\s+(?P<utt>Ses\S+)\s+(?P<code>\w+)")
_UTTERANCE = re.compile(r"Ses(?P<session>\d{2})[FM]_.+_(?P<gender>[FM])[A-Z]*\d+")
_GENDERS = {"F": FEMALE, "M": MALE}


def load_iemocap(
    root: Path | str,
    *,
    label_set: Literal["four", "full"] = "four",
    improvised_only: bool = False,
) -> list[Utterance]:
    """List IEMOCAP's labelled turns.

    Args:
        root: `IEMOCAP_full_release/`, the folder holding Session1/ ... Session5/.
        label_set: "four" (neutral, happy with excited merged in, angry, sad) or
            "full" (adds fear, disgust and surprise).
        improvised_only: Keep only the improvised dialogs, as many papers do because
            scripted turns reuse texts across speakers.

    Returns:
        One record per kept turn, sorted by path; `session` is the session folder
        name and `condition` is "improvised" or "scripted".

    Raises:
        CorpusError: `root` holds no session folders or label files, a label line
            carries an unknown code, or no turn is left.
    """
    if label_set not in ("four", "full"):
        raise ValueError(f"label_set must be 'four' or 'full', not {label_set!r}")
    mapping = FOUR_CLASS_MAP if label_set == "four" else FULL_MAP
    root = require_dir(root, "IEMOCAP_full_release/ holding Session1/ ... Session5/")
    sessions = sorted(
        (d for d in root.iterdir() if d.is_dir() and _SESSION_DIR.fullmatch(d.name)),
        key=lambda d: d.name,
    )
    if not sessions:
        raise CorpusError(
            f"{root}/: no IEMOCAP sessions found (expected Session1/sentences/wav/ "
            "and Session1/dialog/EmoEvaluation/)"
        )
    utterances: list[Utterance] = []
    missing: list[Path] = []
    for session in sessions:
        eval_dir = session / "dialog" / "EmoEvaluation"
        label_files = sorted(
            p for p in eval_dir.glob("*.txt") if p.is_file() and not p.name.startswith("._")
        )
        if not label_files:
            raise CorpusError(
                f"{eval_dir}/: no IEMOCAP label files (expected Ses01F_impro01.txt style names)"
            )
        for label_file in label_files:
            for utt_id, code in _read_labels(label_file):
                emotion = mapping.get(code)
                if emotion is None:
                    continue
                dialog = utt_id.rsplit("_", 1)[0]
                improvised = "_impro" in dialog
                if improvised_only and not improvised:
                    continue
                path = session / "sentences" / "wav" / dialog / f"{utt_id}.wav"
                if not path.is_file():
                    missing.append(path)
                    continue
                match = _UTTERANCE.fullmatch(utt_id)
                assert match is not None  # _read_labels checked the shape
                utterances.append(
                    Utterance(
                        path=path,
                        emotion=emotion,
                        speaker=f"{NAME}:Ses{match['session']}{match['gender']}",
                        gender=_GENDERS[match["gender"]],
                        corpus=NAME,
                        session=session.name,
                        language="en",
                        condition="improvised" if improvised else "scripted",
                        extra={"dialog": dialog, "label": code},
                    )
                )
    if missing:
        logger.warning(
            "%s: %d labelled turn(s) have no audio file, e.g. %s", NAME, len(missing), missing[0]
        )
    if not utterances:
        raise CorpusError(
            f"{root}/: no IEMOCAP turns with audio and a {label_set}-class label "
            "(expected SessionN/sentences/wav/<dialog>/<turn>.wav)"
        )
    return sorted(utterances, key=lambda u: u.path)


def _read_labels(label_file: Path) -> list[tuple[str, str]]:
    """The (turn id, label code) pairs of one EmoEvaluation file.

    Only lines that start with a time span are turn labels; the header ("% [START_TIME
    ...") and the per-annotator lines ("C-E2:", "A-F1:") below each turn are skipped.
    """
    pairs: list[tuple[str, str]] = []
    text = label_file.read_text(encoding="utf-8", errors="replace")
    for lineno, line in enumerate(text.splitlines(), start=1):
        match = _LABEL_LINE.match(line)
        if match is None:
            continue
        utt_id, code = match["utt"], match["code"]
        if code not in KNOWN_CODES:
            raise CorpusError(
                f"{label_file}:{lineno}: unknown IEMOCAP label {code!r} "
                f"(expected one of {', '.join(sorted(KNOWN_CODES))})"
            )
        if _UTTERANCE.fullmatch(utt_id) is None:
            raise CorpusError(
                f"{label_file}:{lineno}: turn id {utt_id!r} does not look like Ses01F_impro01_F000"
            )
        pairs.append((utt_id, code))
    return pairs
