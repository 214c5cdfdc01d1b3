"""The sanity report: did the prosody rules take effect? Measured from the WAVs alone.

Per corpus, language, condition and emotion: mean F0 (YIN, `pitch.py`), F0 range, speaking
rate and level. Because every item is spoken in every emotion, each rendering is
also compared with the neutral rendering of the same speaker and sentence, which
cancels speaker and text differences: that is what the direction checks use.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from streamser import labels
from training.synthemo.errors import CorpusDirError
from training.synthemo.pitch import PitchOptions, track_f0

REPORT_NAME = "report.json"
HOP_S = PitchOptions().hop_ms / 1000


@dataclass(frozen=True)
class FileStats:
    """Measurements of one file.

    Attributes:
        f0_hz: Median F0 of voiced frames (NaN if none).
        f0_range_st: 10th to 90th percentile of voiced F0, in semitones.
        duration_s: Speech duration (`speech_duration_s`).
        onsets_per_s: Voiced-segment onsets per active second (a syllable-rate proxy).
        level_db: RMS level of the active frames, dBFS.
    """

    f0_hz: float
    f0_range_st: float
    duration_s: float
    onsets_per_s: float
    level_db: float


@dataclass(frozen=True)
class ClassStats:
    """Means over one (corpus, language, condition, emotion) cell.

    Attributes:
        corpus: Corpus name.
        language: Text language.
        condition: Recording condition.
        emotion: Emotion.
        count: Files measured.
        f0_hz: Mean of the per-file median F0.
        f0_range_st: Mean F0 range in semitones.
        rate_ratio: Mean of neutral duration / duration for the same speaker and
            sentence (above 1 is faster than neutral); NaN without neutral renderings.
        onsets_per_s: Mean voiced onsets per second.
        level_db: Mean active RMS level in dBFS.
        delta_f0_st: Mean F0 change from the matched neutral, in semitones.
        delta_level_db: Mean level change from the matched neutral.
    """

    corpus: str
    language: str
    condition: str
    emotion: str
    count: int
    f0_hz: float
    f0_range_st: float
    rate_ratio: float
    onsets_per_s: float
    level_db: float
    delta_f0_st: float
    delta_level_db: float


@dataclass(frozen=True)
class Check:
    """One expected direction from the literature and whether the corpus shows it."""

    corpus: str
    language: str
    condition: str
    expectation: str
    value: float
    passed: bool


@dataclass(frozen=True)
class Report:
    """The whole sanity report, as saved in `report.json`."""

    classes: tuple[ClassStats, ...]
    checks: tuple[Check, ...]

    def to_json(self) -> dict[str, object]:
        def clean(value: object) -> object:
            return None if isinstance(value, float) and math.isnan(value) else value

        return {
            "classes": [{k: clean(v) for k, v in asdict(c).items()} for c in self.classes],
            "checks": [asdict(c) for c in self.checks],
        }

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


def analyse_file(path: str) -> FileStats:
    """Measure one WAV (decoded with streamser's own loader, as training will)."""
    from streamser.audio import load_mono
    from training.synthemo.effects import active_mask, frame_levels_db

    samples = load_mono(Path(path))
    f0 = track_f0(samples)
    voiced = f0[f0 > 0]
    levels = frame_levels_db(samples.astype(np.float64) / 32768.0)
    mask = active_mask(levels)
    level = float(10 * np.log10(np.mean(10 ** (levels[mask] / 10)))) if mask.any() else -120.0
    duration = speech_duration_s(samples)
    onsets = int(np.sum((f0[1:] > 0) & (f0[:-1] == 0)) + (f0[:1] > 0).sum())
    if voiced.size >= 3:
        low, high = np.percentile(voiced, [10, 90])
        f0_hz, f0_range = float(np.median(voiced)), float(12 * np.log2(high / low))
    else:
        f0_hz, f0_range = math.nan, math.nan
    return FileStats(f0_hz, f0_range, duration, onsets / max(duration, HOP_S), level)


def speech_duration_s(samples: np.ndarray, tail: float = 0.01) -> float:
    """Time between 1 % and 99 % of the cumulative speech energy.

    Energy percentiles hardly move with quiet word endings, which overdrive lifts and
    voicing decisions drop; against the rate each job asked for, this measure was off
    by about 1.5 % per utterance where the voiced span was off by 6-80 %. The 5th
    percentile frame energy is taken as the noise floor and removed first, so added
    noise does not stretch the span to the whole file.
    """
    hop = int(HOP_S * 16000)
    count = len(samples) // hop
    if count == 0:
        return 0.0
    frames = samples[: count * hop].astype(np.float64).reshape(count, hop)
    energy = np.sum(frames**2, axis=1)
    energy = np.maximum(energy - np.percentile(energy, 5), 0.0)
    if energy.sum() <= 0:
        return 0.0
    cumulative = np.cumsum(energy) / energy.sum()
    first, last = np.searchsorted(cumulative, [tail, 1.0 - tail])
    return float((last - first + 1) * HOP_S)


def read_manifest(root: Path) -> list[dict[str, str]]:
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise CorpusDirError(f"{root}: no manifest.csv (not a SynthEmo corpus, or unfinished)")
    with manifest.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def check_corpus(root: Path) -> list[dict[str, str]]:
    """The manifest rows, after checking every listed file exists (`CorpusDirError` if not)."""
    rows = read_manifest(root)
    missing = [row["path"] for row in rows if not (root / row["path"]).is_file()]
    if missing:
        raise CorpusDirError(
            f"{root / missing[0]}: listed in the manifest but missing ({len(missing)} files)"
        )
    return rows


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def _average(stats: Sequence[FileStats]) -> FileStats:
    fields = FileStats.__dataclass_fields__
    return FileStats(*(_mean([getattr(s, f) for s in stats]) for f in fields))


def _cell_stats(
    key: tuple[str, str, str, str], pairs: Sequence[tuple[FileStats, FileStats | None]]
) -> ClassStats:
    own = [s for s, _ in pairs]
    matched = [(s, r) for s, r in pairs if r is not None]
    return ClassStats(
        *key,
        count=len(own),
        f0_hz=_mean([s.f0_hz for s in own]),
        f0_range_st=_mean([s.f0_range_st for s in own]),
        rate_ratio=_mean([r.duration_s / s.duration_s for s, r in matched if s.duration_s > 0]),
        onsets_per_s=_mean([s.onsets_per_s for s in own]),
        level_db=_mean([s.level_db for s in own]),
        delta_f0_st=_mean([12 * math.log2(s.f0_hz / r.f0_hz) for s, r in matched]),
        delta_level_db=_mean([s.level_db - r.level_db for s, r in matched]),
    )


def summarise(rows: Sequence[dict[str, str]], stats: Sequence[FileStats]) -> Report:
    """Class means, matched deltas and direction checks from per-file measurements."""

    def item(row: dict[str, str]) -> tuple[str, ...]:
        return (row["corpus"], row["condition"], row["speaker"], row["text_id"])

    neutral: dict[tuple[str, ...], list[FileStats]] = defaultdict(list)
    for row, s in zip(rows, stats, strict=True):
        if row["emotion"] == labels.NEUTRAL:
            neutral[item(row)].append(s)
    references = {key: _average(found) for key, found in neutral.items()}
    cells: dict[tuple[str, str, str, str], list[tuple[FileStats, FileStats | None]]]
    cells = defaultdict(list)
    for row, s in zip(rows, stats, strict=True):
        key = (row["corpus"], row["language"], row["condition"], row["emotion"])
        cells[key].append((s, references.get(item(row))))
    order = {emotion: i for i, emotion in enumerate(labels.EMOTIONS)}
    keys = sorted(cells, key=lambda k: (k[0], k[1], k[2], order.get(k[3], len(order))))
    classes = [_cell_stats(key, cells[key]) for key in keys]
    return Report(tuple(classes), tuple(_checks(classes)))


# Expected directions, relative to neutral (Murray & Arnott 1993; see prosody.py).
_EXPECTED: tuple[tuple[str, str, int], ...] = (
    (labels.ANGRY, "delta_f0_st", +1),
    (labels.HAPPY, "delta_f0_st", +1),
    (labels.FEAR, "delta_f0_st", +1),
    (labels.SURPRISE, "delta_f0_st", +1),
    (labels.SAD, "delta_f0_st", -1),
    (labels.BOREDOM, "delta_f0_st", -1),
    (labels.SAD, "rate_ratio", -1),
    (labels.BOREDOM, "rate_ratio", -1),
    (labels.ANGRY, "delta_level_db", +1),
    (labels.SAD, "delta_level_db", -1),
)
_WORDS = {
    "delta_f0_st": ("higher F0", "lower F0"),
    "rate_ratio": ("faster", "slower"),
    "delta_level_db": ("louder", "quieter"),
}


def _checks(classes: Sequence[ClassStats]) -> list[Check]:
    found = {(c.corpus, c.language, c.condition, c.emotion): c for c in classes}
    groups = sorted({(c.corpus, c.language, c.condition) for c in classes})
    # The rules describe the speaker, so they are checked on clean audio when there
    # is any: the telephone band removes the fundamental of male voices and noise
    # adds level, which the tables show but which are not the rules' doing.
    if any(group[2] == "clean" for group in groups):
        groups = [group for group in groups if group[2] == "clean"]
    checks = []
    for group in groups:
        cell = {e: found.get((*group, e)) for e in labels.EMOTIONS}
        if cell[labels.NEUTRAL] is not None:
            for emotion, field, sign in _EXPECTED:
                stats = cell[emotion]
                if stats is None:
                    continue
                value = getattr(stats, field)
                centre = 1.0 if field == "rate_ratio" else 0.0
                word = _WORDS[field][0 if sign > 0 else 1]
                passed = not math.isnan(value) and (value - centre) * sign > 0
                checks.append(Check(*group, f"{emotion} {word} than neutral", value, passed))
        angry, sad = cell[labels.ANGRY], cell[labels.SAD]
        if angry is not None and sad is not None:
            for field, word in (("f0_hz", "higher F0"), ("level_db", "louder")):
                value = getattr(angry, field) - getattr(sad, field)
                checks.append(Check(*group, f"angry {word} than sad", value, value > 0))
    return checks


def analyse_corpus(
    root: Path, workers: int = 1, progress: Callable[[int, int], None] | None = None
) -> Report:
    """Measure every file of a corpus, save `report.json` next to the manifest, return it."""
    rows = check_corpus(root)
    paths = [str(root / row["path"]) for row in rows]
    stats: list[FileStats] = []
    if workers <= 1:
        for path in paths:
            stats.append(analyse_file(path))
            if progress:
                progress(len(stats), len(paths))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for s in pool.map(analyse_file, paths, chunksize=16):
                stats.append(s)
                if progress and len(stats) % 16 == 0:
                    progress(len(stats), len(paths))
        if progress:
            progress(len(stats), len(paths))
    report = summarise(rows, stats)
    partial = root / (REPORT_NAME + ".partial")
    partial.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(partial, root / REPORT_NAME)
    return report


def load_report(root: Path) -> Report:
    """A saved report, for printing without measuring again."""
    data = json.loads((root / REPORT_NAME).read_text(encoding="utf-8"))
    nan = math.nan

    def undo(row: dict[str, object]) -> dict[str, object]:
        return {k: nan if v is None else v for k, v in row.items()}

    return Report(
        tuple(ClassStats(**undo(c)) for c in data["classes"]),  # type: ignore[arg-type]
        tuple(Check(**c) for c in data["checks"]),
    )
