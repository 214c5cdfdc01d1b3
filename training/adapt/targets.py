"""Unlabelled adaptation targets: recordings read as sound only, never with a label.

A target is what a user has: a folder of recordings (nested folders, any format
libsndfile reads, any rate and channel count), a CSV manifest with a `path` column
(every other column, an `emotion` one included, is ignored), or NAME=PATH where PATH
is such a manifest and NAME the value of its `corpus` column to keep, or a folder
NAME only names. Nothing here reads a label, so adaptation and the calibration of
the adapted model cannot use one.

Recordings up to MAX_CLIP_SECONDS are one utterance each (a corpus clip, a prompt);
longer ones (a call, a meeting) are cut into the utterances the runtime would hear:
the runtime's segmenter with its default detector and options, as `listen` uses them.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from streamser.constants import FRAME_SAMPLES, SAMPLE_RATE_HZ
from streamser.errors import StreamserError

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au"}
    | {".caf", ".w64", ".rf64", ".snd", ".sph", ".voc"}
)
"""File endings listed in a target folder (what libsndfile reads; case-insensitive)."""
MAX_CLIP_SECONDS = 8.0
"""Longer recordings are segmented into utterances (the runtime's longest utterance)."""
MANIFEST = "manifest.csv"


@dataclass(frozen=True)
class TargetSpec:
    """An unlabelled target on the command line: PATH, or NAME=PATH.

    Attributes:
        name: What the model's metadata calls the target (NAME, else the folder's or
            file's name).
        path: A folder of recordings, a manifest CSV, or a folder holding manifest.csv.
        corpus: With NAME=PATH on a manifest that has a `corpus` column: the rows to keep.
    """

    name: str
    path: Path
    corpus: str | None = None

    @classmethod
    def parse(cls, text: str) -> TargetSpec:
        """An existing path is taken whole (it may contain '='); otherwise NAME=PATH."""
        if Path(text).exists():
            path = Path(text)
            return cls(path.stem if path.is_file() else path.resolve().name, path)
        name, sep, path_text = text.partition("=")
        if not sep or not name.strip() or not path_text:
            raise StreamserError(f"target {text!r}: no such file or folder")
        if not Path(path_text).exists():
            raise StreamserError(f"target {text!r}: {path_text} does not exist")
        return cls(name.strip(), Path(path_text), name.strip())

    def __str__(self) -> str:
        return f"{self.name}={self.path}"

    def manifest(self) -> Path | None:
        if self.path.is_file():
            return self.path
        candidate = self.path / MANIFEST
        return candidate if candidate.is_file() else None

    def files(self) -> list[Path]:
        """The recordings, sorted (a folder) or in manifest order."""
        manifest = self.manifest()
        if manifest is None:
            found = self.path.rglob("*")
            files = sorted(p for p in found if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
            if not files:
                raise StreamserError(
                    f"target {self.path}/: no audio files (looked for "
                    f"{', '.join(sorted(AUDIO_SUFFIXES))}, in nested folders too)"
                )
            return files
        return manifest_paths(manifest, self.corpus)


def manifest_paths(manifest: Path, corpus: str | None = None) -> list[Path]:
    """The `path` column of a CSV (relative to its folder); `corpus` keeps those rows."""
    with manifest.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = [(name or "").strip() for name in reader.fieldnames or []]
        if "path" not in fields:
            raise StreamserError(
                f"{manifest}: a target manifest needs a 'path' column "
                f"(found: {', '.join(fields) or 'no header'})"
            )
        reader.fieldnames = fields
        rows = list(reader)
    if corpus is not None and "corpus" in fields:
        names = sorted({(r.get("corpus") or "").strip() for r in rows})
        rows = [r for r in rows if (r.get("corpus") or "").strip() == corpus]
        if not rows:
            raise StreamserError(
                f"{manifest}: no rows of corpus {corpus!r} (the manifest has {', '.join(names)})"
            )
    paths = [manifest.parent / (r.get("path") or "").strip() for r in rows]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise StreamserError(f"{manifest}: {len(missing)} file(s) missing, e.g. {missing[0]}")
    if not paths:
        raise StreamserError(f"{manifest}: no rows below the header")
    return paths


@dataclass
class TargetAudio:
    """Canonical (16 kHz mono int16) utterances of a target.

    Attributes:
        clips: One array per utterance.
        origins: For each clip, the index into `files` it was cut from.
        files: The recordings that decoded.
        skipped: Recordings that did not decode, with the reason.
        whole: For each clip, whether it is its recording whole (not a cut piece).
    """

    clips: list[np.ndarray]
    origins: list[int]
    files: list[Path]
    skipped: list[tuple[Path, str]]
    whole: list[bool] = field(default_factory=list)


def load_target(files: Sequence[Path], workers: int = 4) -> TargetAudio:
    """Decodes every file; one that fails is skipped and counted, never silently."""
    from streamser.audio import load_mono

    def decode(path: Path) -> np.ndarray | str:
        try:
            return load_mono(path)
        except Exception as error:  # a broken file must not end an adaptation run
            return f"{type(error).__name__}: {error}"

    with ThreadPoolExecutor(max_workers=workers) as pool:
        decoded = list(pool.map(decode, files))
    clips, origins, kept, skipped, whole = [], [], [], [], []
    for path, audio in zip(files, decoded, strict=True):
        if isinstance(audio, str):
            skipped.append((path, audio))
            continue
        pieces = split_recording(audio)
        if not pieces:
            skipped.append((path, "no speech found"))
            continue
        clips += pieces
        origins += [len(kept)] * len(pieces)
        whole += [len(pieces) == 1 and len(pieces[0]) == len(audio)] * len(pieces)
        kept.append(path)
    if skipped:
        log.warning(
            "%d of %d target files skipped, e.g. %s (%s)",
            len(skipped),
            len(files),
            skipped[0][0],
            skipped[0][1],
        )
    if not clips:
        raise StreamserError(f"no target file decoded ({len(files)} tried)")
    return TargetAudio(clips, origins, kept, skipped, whole)


def split_recording(samples: np.ndarray) -> list[np.ndarray]:
    """A clip up to MAX_CLIP_SECONDS whole; a longer recording cut into utterances."""
    if len(samples) == 0:
        return []
    if len(samples) <= MAX_CLIP_SECONDS * SAMPLE_RATE_HZ:
        return [samples]
    from streamser.segmenter import Segmenter, SegmenterOptions
    from streamser.vad import make_vad

    options = SegmenterOptions()
    segmenter = Segmenter(make_vad(options.vad), options)
    spans = []
    whole = len(samples) // FRAME_SAMPLES * FRAME_SAMPLES
    for start in range(0, whole, FRAME_SAMPLES):
        spans += segmenter.process(samples[start : start + FRAME_SAMPLES])
    spans += segmenter.flush()
    return [samples[s.start : s.end] for s in spans]
