"""The fuzz property and everything around it: checks, the watchdog, failure signatures,
known failures, the corpus, and the hypothesis profile the tests use.

The property, for every target: an input is either accepted or refused with the
error type its API documents, whose message is one line; no other exception
escapes, nothing is logged as an error, and no input runs longer than the watchdog.

Crashes already reported and not yet fixed are listed by signature in
`tests/data/fuzz-corpus/known-failures.json`: the random tests let them pass, the
corpus replay expects them to fail, and once one is fixed the suite says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from hypothesis import settings

import streamser

CORPUS_DIR = Path(__file__).resolve().parents[2] / "data" / "fuzz-corpus"
KNOWN_FAILURES = CORPUS_DIR / "known-failures.json"
WATCHDOG_S = 20.0
"""An input that takes longer than this is a hang (a loaded CI machine stays far below it)."""

PROFILE_ENV = "HYPOTHESIS_PROFILE"
DEFAULT_PROFILE = "ci"

_STREAMSER_DIR = Path(streamser.__file__).resolve().parent


def fuzz_settings(scale: float = 1.0) -> settings:
    """The fuzz tests' settings: the hypothesis profile `HYPOTHESIS_PROFILE` names ("ci"
    unless set; tests/streamser/fuzz/conftest.py registers them), with `max_examples`
    scaled for targets whose inputs cost more."""
    profile = settings.get_profile(os.environ.get(PROFILE_ENV, DEFAULT_PROFILE))
    return settings(profile, max_examples=max(1, round(profile.max_examples * scale)))


class PropertyViolation(AssertionError):
    """The runtime did something the fuzz property forbids without raising (a multi-line
    message, decoded samples out of range, two decoders that disagree...)."""

    def __init__(self, check: str, detail: str) -> None:
        super().__init__(f"{check}: {detail}")
        self.check = check


class FuzzTimeout(Exception):
    """An input ran longer than the watchdog allows."""


# --- checks shared by the targets -----------------------------------------------------


def one_line(error: BaseException) -> None:
    """The error's message is one non-empty line (the CLI and the protocols print it so)."""
    message = str(error)
    if not message.strip() or message.splitlines() != [message]:
        raise PropertyViolation(
            "one-line message", f"{type(error).__name__} says {message!r}"
        ) from error


def expect(errors: type[BaseException] | tuple[type[BaseException], ...], call: Callable[[], Any]):
    """`call()`, or None when it raised one of `errors` with a one-line message."""
    try:
        return call()
    except errors as error:
        one_line(error)
        return None


def check_samples(samples: np.ndarray, channels: int, what: str) -> None:
    """Decoded audio: float32 `[frames, channels]`, finite, within [-1, 1]."""
    if samples.dtype != np.float32 or samples.ndim != 2 or samples.shape[1] != channels:
        raise PropertyViolation(
            "decoded shape", f"{what}: {samples.dtype} {samples.shape}, expected [n, {channels}]"
        )
    if not np.isfinite(samples).all() or np.abs(samples).max(initial=0.0) > 1.0:
        raise PropertyViolation("decoded range", f"{what}: samples outside [-1, 1] or not finite")


def check_outputs(outputs: list[np.ndarray], count: int, what: str) -> None:
    """Canonical blocks: `count` int16 1-D arrays of the same length."""
    if len(outputs) != count or any(
        o.dtype != np.int16 or o.ndim != 1 or len(o) != len(outputs[0]) for o in outputs
    ):
        shapes = [(o.dtype, o.shape) for o in outputs]
        raise PropertyViolation("canonical output", f"{what}: {shapes}, expected {count} int16")


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raises FuzzTimeout in the main thread once `seconds` have passed (SIGALRM)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum: int, frame: object) -> None:
        raise FuzzTimeout(f"input still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _ErrorLog(logging.Handler):
    """Collects errors logged by the runtime (and asyncio) while an input runs: the call
    loop logs, rather than raises, what escapes an adapter."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])
        else:
            self.errors.append(PropertyViolation("error logged", record.getMessage()))


@contextlib.contextmanager
def quiet_logs() -> Iterator[_ErrorLog]:
    """Runtime warnings off (bad input makes plenty); errors collected, not printed."""
    collector = _ErrorLog()
    runtime, aio = logging.getLogger("streamser"), logging.getLogger("asyncio")
    level = runtime.level
    runtime.setLevel(logging.ERROR)
    runtime.addHandler(collector)
    aio.addHandler(collector)
    try:
        yield collector
    finally:
        runtime.removeHandler(collector)
        aio.removeHandler(collector)
        runtime.setLevel(level)


# --- failures: signatures, known failures, the corpus --------------------------------


def where(error: BaseException) -> str:
    """The innermost frame of the runtime in the error's traceback (`path:function`)."""
    frames = traceback.extract_tb(error.__traceback__)
    inside = [f for f in frames if Path(f.filename).resolve().is_relative_to(_STREAMSER_DIR)]
    if inside:
        frame = inside[-1]
        path = Path(frame.filename).resolve().relative_to(_STREAMSER_DIR.parent).as_posix()
        return f"{path}:{frame.name}"
    if frames:
        return f"{Path(frames[-1].filename).name}:{frames[-1].name}"
    return "?"


def signature(error: BaseException) -> str:
    """What identifies a failure across inputs: its kind and where in the runtime it arose."""
    if isinstance(error, PropertyViolation):
        cause = error.__cause__
        return f"PropertyViolation({error.check}) in {where(cause) if cause else where(error)}"
    return f"{type(error).__name__} in {where(error)}"


@cache
def known_failures() -> dict[str, str]:
    """Signature -> note, for crashes reported and not yet fixed."""
    if not KNOWN_FAILURES.exists():
        return {}
    return {entry["signature"]: entry["note"] for entry in json.loads(KNOWN_FAILURES.read_text())}


def corpus_files(target: str | None = None, corpus: Path = CORPUS_DIR) -> list[Path]:
    """Every corpus input (of one target), in a stable order."""
    if not corpus.is_dir():
        return []
    folders = [corpus / target] if target else sorted(p for p in corpus.iterdir() if p.is_dir())
    return sorted(path for folder in folders if folder.is_dir() for path in folder.glob("*.bin"))


def save_input(target: str, data: bytes, corpus: Path = CORPUS_DIR) -> Path:
    """Writes an input to `<corpus>/<target>/<sha1>.bin` (idempotent); returns its path."""
    path = corpus / target / f"{hashlib.sha1(data).hexdigest()}.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    return path


@dataclass(frozen=True)
class Outcome:
    """What one input did.

    Attributes:
        label: The target's outcome ("decoded", "rejected", "call"...), or "failed".
        error: The unexpected exception or property violation, if any.
        known: The note of the known failure it matches, if any.
    """

    label: str
    error: BaseException | None = None
    known: str | None = None

    @property
    def signature(self) -> str | None:
        return None if self.error is None else signature(self.error)

    @property
    def new_failure(self) -> bool:
        return self.error is not None and self.known is None


def attempt(runner: Runner, data: bytes, timeout: float | None = WATCHDOG_S) -> Outcome:
    """Runs one input and says what it did; never raises (but KeyboardInterrupt)."""
    try:
        with quiet_logs() as log, time_limit(timeout):
            label = runner(data)
        if log.errors:
            raise log.errors[0]
        return Outcome(label)
    except Exception as error:
        return Outcome("failed", error, known_failures().get(signature(error)))


def assert_holds(runner: Runner, data: bytes, timeout: float | None = WATCHDOG_S) -> Outcome:
    """`attempt`, raising a failure unless it is a known one."""
    outcome = attempt(runner, data, timeout)
    if outcome.new_failure:
        raise outcome.error
    return outcome


class Runner(Protocol):
    """Feeds one input to the code under test; returns an outcome label."""

    def __call__(self, data: bytes) -> str: ...

    def close(self) -> None: ...
