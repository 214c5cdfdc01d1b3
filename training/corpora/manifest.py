"""A CSV manifest loader, for corpora without a loader of their own and for SynthEmo.

Columns `path`, `emotion` and `speaker` are required; `gender`, `corpus`,
`session`, `text_id`, `language` and `condition` are optional; any other column
(SynthEmo's `engine`, for instance) is kept in `Utterance.extra`. Relative paths are
relative to the CSV's folder, so a corpus folder with its manifest can be moved as
a whole. Bad rows fail with the file, the line and what was expected, because a
silently dropped row would skew every class balance computed downstream.
"""

from __future__ import annotations

import csv
from pathlib import Path

from streamser.labels import (
    ANGRY,
    DISGUST,
    EMOTIONS,
    FEAR,
    FEMALE,
    GENDERS,
    HAPPY,
    MALE,
    SAD,
    SURPRISE,
    UNKNOWN_GENDER,
)
from training.corpora.base import CorpusError, Utterance, require_dir

NAME = "manifest"
DEFAULT_FILE = "manifest.csv"

REQUIRED: tuple[str, ...] = ("path", "emotion", "speaker")
OPTIONAL: tuple[str, ...] = ("gender", "corpus", "session", "text_id", "language", "condition")

EMOTION_ALIASES: dict[str, str] = {
    "anger": ANGRY,
    "happiness": HAPPY,
    "joy": HAPPY,
    "sadness": SAD,
    "fearful": FEAR,
    "disgusted": DISGUST,
    "surprised": SURPRISE,
}
"""Common spellings of canonical names that manifests written by hand use."""

GENDER_ALIASES: dict[str, str] = {
    "m": MALE,
    "f": FEMALE,
    "": UNKNOWN_GENDER,
    "u": UNKNOWN_GENDER,
}


def normalize_emotion(name: str) -> str | None:
    """The canonical emotion for `name` (case-insensitive, common aliases), else None."""
    key = name.strip().lower()
    if key in EMOTIONS:
        return key
    return EMOTION_ALIASES.get(key)


def load_manifest(
    path: Path | str, *, corpus: str | None = None, check_files: bool = True
) -> list[Utterance]:
    """Read a CSV manifest.

    Args:
        path: The CSV file, or a folder holding `manifest.csv` (or exactly one .csv).
        corpus: Corpus name for rows without a `corpus` value; by default the name
            of the folder the CSV is in.
        check_files: Fail on rows whose audio file does not exist.

    Returns:
        One record per row, in file order. Speakers are kept as written.

    Raises:
        CorpusError: No CSV, a missing required column, or a row with an empty
            required value, an unknown emotion or gender, or a missing audio file.
    """
    csv_path = _find_csv(Path(path))
    base = csv_path.parent
    default_corpus = corpus or csv_path.resolve().parent.name or NAME
    with csv_path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = [(name or "").strip() for name in reader.fieldnames or []]
        missing = [name for name in REQUIRED if name not in fields]
        if missing:
            raise CorpusError(
                f"{csv_path}: missing column(s) {', '.join(missing)} (required: "
                f"{', '.join(REQUIRED)}; optional: {', '.join(OPTIONAL)}; "
                f"found: {', '.join(fields) or 'no header'})"
            )
        reader.fieldnames = fields
        known = set(REQUIRED) | set(OPTIONAL)
        utterances: list[Utterance] = []
        for row in reader:
            line = reader.line_num
            values = {key: (value or "").strip() for key, value in row.items() if key is not None}
            where = f"{csv_path}:{line}"
            for name in REQUIRED:
                if not values.get(name):
                    raise CorpusError(f"{where}: empty '{name}' (required in every row)")
            emotion = normalize_emotion(values["emotion"])
            if emotion is None:
                raise CorpusError(
                    f"{where}: unknown emotion {values['emotion']!r} "
                    f"(expected one of {', '.join(EMOTIONS)})"
                )
            gender_value = values.get("gender", "").lower()
            gender = gender_value if gender_value in GENDERS else GENDER_ALIASES.get(gender_value)
            if gender is None:
                raise CorpusError(
                    f"{where}: unknown gender {values['gender']!r} "
                    f"(expected one of {', '.join(GENDERS)}, or empty)"
                )
            audio = base / values["path"]
            if check_files and not audio.is_file():
                raise CorpusError(f"{where}: audio file {audio} does not exist")
            utterances.append(
                Utterance(
                    path=audio,
                    emotion=emotion,
                    speaker=values["speaker"],
                    gender=gender,
                    corpus=values.get("corpus") or default_corpus,
                    session=values.get("session") or None,
                    text_id=values.get("text_id") or None,
                    language=values.get("language") or None,
                    condition=values.get("condition") or None,
                    extra={k: v for k, v in values.items() if k not in known},
                )
            )
    if not utterances:
        raise CorpusError(f"{csv_path}: no rows below the header")
    return utterances


def _find_csv(path: Path) -> Path:
    """The manifest file itself, or the one manifest in a folder."""
    if path.is_file():
        return path
    folder = require_dir(path, f"a CSV manifest file or a folder holding {DEFAULT_FILE}")
    if (folder / DEFAULT_FILE).is_file():
        return folder / DEFAULT_FILE
    candidates = sorted(folder.glob("*.csv"))
    if len(candidates) == 1:
        return candidates[0]
    found = f"found {len(candidates)} .csv files" if candidates else "found none"
    raise CorpusError(
        f"{folder}/: no {DEFAULT_FILE} ({found}; expected a CSV with columns "
        f"{', '.join(REQUIRED)}, or pass the manifest file itself)"
    )
