"""The record every corpus loader returns, its error, and the file-walking they share.

Loaders read labels from the corpus's own file and directory names and never
decode audio, so listing a corpus of thousands of files takes a fraction of a
second and a broken file surfaces where it is decoded, with its own error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from streamser.errors import StreamserError
from streamser.labels import EMOTIONS, GENDERS

logger = logging.getLogger(__name__)


class CorpusError(StreamserError):
    """A corpus folder or manifest that does not look like what its loader expects."""


@dataclass(frozen=True)
class Utterance:
    """One labelled recording of a corpus.

    Attributes:
        path: The audio file.
        emotion: A name from `streamser.labels.EMOTIONS`.
        speaker: Unique within its corpus and prefixed with it ("emodb:03"), so
            speakers of different corpora never collide when corpora are mixed.
        gender: `streamser.labels.MALE`, `FEMALE` or `UNKNOWN_GENDER`.
        corpus: The corpus name ("emodb", "iemocap", ...).
        session: Recording session where the corpus has them (IEMOCAP), else None.
        text_id: What was said, where the corpus reuses texts (EmoDB "a01"), so that
            text-independent splits are possible.
        language: ISO 639-1 code of the spoken language.
        condition: Corpus-specific recording condition ("improvised", "strong", ...).
        extra: Anything else the source knew (manifest columns, version letters).
    """

    path: Path
    emotion: str
    speaker: str
    gender: str
    corpus: str
    session: str | None = None
    text_id: str | None = None
    language: str | None = None
    condition: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.path, Path):
            object.__setattr__(self, "path", Path(self.path))
        if self.emotion not in EMOTIONS:
            raise ValueError(f"emotion {self.emotion!r} is not one of {', '.join(EMOTIONS)}")
        if self.gender not in GENDERS:
            raise ValueError(f"gender {self.gender!r} is not one of {', '.join(GENDERS)}")
        # Read-only so that a frozen record stays frozen all the way down.
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))


def require_dir(root: Path | str, expected: str) -> Path:
    """Return `root` as a Path, or raise a one-line error if it is not a directory.

    Args:
        root: The folder the user passed.
        expected: What that folder should hold, for the message.

    Raises:
        CorpusError: `root` does not exist or is not a directory.
    """
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}/: not a directory (expected {expected})")
    return root


def audio_files(root: Path, corpus: str, suffix: str = ".wav") -> list[Path]:
    """All non-empty `suffix` files below `root`, sorted, without macOS `._` forks.

    Empty files are skipped with a warning rather than failing the whole corpus:
    public copies have them (CREMA-D's 1076_MTI_SAD_XX.wav), and one bad file
    should cost one utterance, visibly.
    """
    found: list[Path] = []
    empty: list[Path] = []
    for path in root.rglob("*"):
        if path.name.startswith("._") or path.suffix.lower() != suffix or not path.is_file():
            continue
        if path.stat().st_size == 0:
            empty.append(path)
        else:
            found.append(path)
    if empty:
        logger.warning(
            "%s: skipped %d empty %s file(s), e.g. %s", corpus, len(empty), suffix, empty[0]
        )
    return sorted(found)


T = TypeVar("T")


def parsed_files(
    root: Path, corpus: str, parse: Callable[[Path], T | None], suffix: str = ".wav"
) -> list[tuple[Path, T]]:
    """The corpus's audio files (`audio_files`) that `parse` understands, each with what
    it read from the file's name; the files it returns None for are logged as ignored."""
    parsed: list[tuple[Path, T]] = []
    ignored: list[Path] = []
    for path in audio_files(root, corpus, suffix):
        record = parse(path)
        if record is None:
            ignored.append(path)
        else:
            parsed.append((path, record))
    log_ignored(corpus, root, ignored)
    return parsed


def log_ignored(corpus: str, root: Path, ignored: list[Path]) -> None:
    """Report files that sit in a corpus folder but do not follow its naming."""
    if ignored:
        logger.info(
            "%s: ignored %d file(s) under %s that do not follow the corpus naming, e.g. %s",
            corpus,
            len(ignored),
            root,
            ignored[0].name,
        )
