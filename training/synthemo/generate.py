"""Run a plan: render jobs in a process pool, write WAVs atomically, then the manifest.

Resumable by construction: a job whose files all exist is skipped, and a file only
ever appears under its final name through `os.replace` of a finished `.partial`
file, so a killed run leaves either whole files or nothing. The directory records
the options it was made with (`synthemo.json`) and refuses to resume under others.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import tempfile
import wave
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamser.audio.formats import float_to_int16
from streamser.constants import SAMPLE_RATE_HZ
from training.synthemo import effects
from training.synthemo.conditions import apply_condition
from training.synthemo.engines import ENGINES, RenderRequest
from training.synthemo.errors import CorpusDirError
from training.synthemo.plan import MANIFEST_COLUMNS, Job, SynthOptions, make_plan

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.csv"
SETTINGS_NAME = "synthemo.json"
PARTIAL_SUFFIX = ".partial"
CHUNK_JOBS = 12
"""Jobs per pool task: festival's start-up is paid once per chunk."""


@dataclass(frozen=True)
class GenerateResult:
    """What a run did.

    Attributes:
        planned: Files in the manifest.
        written: Files rendered by this run.
        skipped: Files that already existed (resume).
        manifest: Path of the manifest.
    """

    planned: int
    written: int
    skipped: int
    manifest: Path


def write_wav(path: Path, samples: np.ndarray) -> None:
    """16 kHz mono 16-bit PCM, via a `.partial` name so only whole files get the real name."""
    pcm = float_to_int16(samples)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(SAMPLE_RATE_HZ)
        writer.writeframes(pcm.astype("<i2").tobytes())
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    partial.write_bytes(buffer.getvalue())
    os.replace(partial, path)


def render_chunk(jobs: Sequence[Job], root: str) -> int:
    """Pool task: synthesise, colour, level and write every missing file of `jobs`."""
    base = Path(root)
    engine = ENGINES[jobs[0].engine]
    requests = [RenderRequest(job.voice, job.sentence.text, job.prosody) for job in jobs]
    with tempfile.TemporaryDirectory(prefix="synthemo-") as workdir:
        rendered = engine.render(requests, Path(workdir))
    written = 0
    for job, raw in zip(jobs, rendered, strict=True):
        voiced = effects.voice_stage(
            raw.samples, raw.sample_rate_hz, raw.residual_f0_ratio, job.prosody.quality
        )
        levelled = effects.level_stage(effects.trim_silence(voiced), job.prosody.gain_db)
        for output in job.outputs:
            path = base / output.path
            if path.exists():
                continue
            rng = np.random.default_rng(list(output.seed))
            audio = apply_condition(levelled, output.condition, rng)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_wav(path, effects.limit_peaks(audio))
            written += 1
    return written


def _chunks(jobs: Sequence[Job], size: int) -> Iterator[list[Job]]:
    """Consecutive jobs of one engine, at most `size` at a time."""
    by_engine: dict[str, list[Job]] = {}
    for job in jobs:
        by_engine.setdefault(job.engine, []).append(job)
    for engine_jobs in by_engine.values():
        for start in range(0, len(engine_jobs), size):
            yield engine_jobs[start : start + size]


def check_output_dir(root: Path, options: SynthOptions) -> None:
    """Raises `CorpusDirError` unless `root` is new, empty, or a corpus made with `options`."""
    settings = root / SETTINGS_NAME
    wanted = options.to_json()
    if root.exists() and not root.is_dir():
        raise CorpusDirError(f"{root} exists and is not a directory")
    if settings.exists():
        try:
            found = json.loads(settings.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CorpusDirError(f"{settings}: unreadable ({error})") from error
        if found != wanted:
            differing = sorted(k for k in wanted if found.get(k) != wanted[k])
            raise CorpusDirError(
                f"{root} holds a corpus made with other settings ({', '.join(differing)} "
                "differ); use a new directory or the same arguments"
            )
    elif root.exists() and any(root.iterdir()):
        raise CorpusDirError(
            f"{root} is not empty and is not a SynthEmo corpus; use a new directory"
        )


def _record_settings(root: Path, options: SynthOptions) -> None:
    settings = root / SETTINGS_NAME
    if not settings.exists():
        root.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps(options.to_json(), indent=2) + "\n", encoding="utf-8")


def _remove_partials(root: Path) -> None:
    for partial in root.rglob("*" + PARTIAL_SUFFIX):
        partial.unlink()


def write_manifest(root: Path, jobs: Sequence[Job]) -> Path:
    """The CSV manifest in plan order (paths relative to `root`), written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for job in jobs:
        writer.writerows(job.manifest_rows())
    manifest = root / MANIFEST_NAME
    partial = root / (MANIFEST_NAME + PARTIAL_SUFFIX)
    partial.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(partial, manifest)
    return manifest


def check_engines(options: SynthOptions) -> None:
    """Fail early, with the package to install, rather than inside a worker."""
    effects.check_sox()
    for name in options.engines:
        ENGINES[name].check()


def generate(
    options: SynthOptions,
    root: Path,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> GenerateResult:
    """Make (or finish) the corpus described by `options` in `root`.

    Args:
        options: What to generate.
        root: Corpus directory; created if missing.
        workers: Processes; 1 renders in this process.
        progress: Called with (files done, files planned) as chunks finish.

    Returns:
        Counts of planned, written and skipped files, and the manifest path.

    Raises:
        EngineMissingError: An engine or sox is not installed.
        CorpusDirError: `root` holds something else.
    """
    check_engines(options)
    check_output_dir(root, options)
    _record_settings(root, options)
    _remove_partials(root)
    jobs = make_plan(options)
    planned = sum(len(job.outputs) for job in jobs)
    todo = [job for job in jobs if not all((root / o.path).exists() for o in job.outputs)]
    missing = sum(1 for job in todo for o in job.outputs if not (root / o.path).exists())
    done = planned - missing
    if progress:
        progress(done, planned)
    written = 0
    chunks = list(_chunks(todo, CHUNK_JOBS))
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            count = render_chunk(chunk, str(root))
            written += count
            if progress:
                progress(done + written, planned)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pending: set[Future[int]] = {pool.submit(render_chunk, c, str(root)) for c in chunks}
            try:
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        written += future.result()
                    if progress:
                        progress(done + written, planned)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    manifest = write_manifest(root, jobs)
    return GenerateResult(planned, written, planned - missing, manifest)
