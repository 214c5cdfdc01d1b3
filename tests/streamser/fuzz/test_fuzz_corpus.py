"""The fuzz corpus (tests/data/fuzz-corpus) replayed: seed inputs of every target and
every crasher bin/fuzz saved, so that a fixed crash stays fixed.

Crashes reported and not fixed yet are listed by signature in known-failures.json:
their corpus files are expected to fail (xfail), and once one no longer fails
anywhere the suite says to take it off the list.
"""

from __future__ import annotations

import hashlib

import pytest
from support.fuzz.harness import KNOWN_FAILURES, attempt, corpus_files, known_failures
from support.fuzz.seeds import seed_inputs
from support.fuzz.targets import TARGETS

CORPUS = corpus_files()
SEED_OUTCOMES = {
    "wav": "decoded",
    "raw": "converted",
    "wire": "object",
    "native": "call with utterances",
    "twilio": "call with utterances",
    "audiohook": "call with utterances",
}


@pytest.fixture(scope="module")
def replayed(fuzz_runner):
    """Every corpus file's outcome."""
    return {path: attempt(fuzz_runner(path.parent.name), path.read_bytes()) for path in CORPUS}


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: f"{p.parent.name}/{p.stem[:12]}")
def test_corpus_input_keeps_the_property(replayed, path):
    outcome = replayed[path]
    if outcome.known is not None:
        pytest.xfail(f"{outcome.signature}: {outcome.known}")
    if outcome.error is not None:
        raise outcome.error


def test_every_known_failure_still_happens(replayed):
    seen = {outcome.signature for outcome in replayed.values() if outcome.error is not None}
    fixed = sorted(set(known_failures()) - seen)
    assert not fixed, (
        f"no corpus input fails this way any more: take {fixed} off {KNOWN_FAILURES.name}"
    )


def test_the_corpus_holds_the_seed_inputs_of_every_target():
    assert {path.parent.name for path in CORPUS} >= set(TARGETS)
    for target, seeds in seed_inputs().items():
        for data in seeds:
            name = f"{hashlib.sha1(data).hexdigest()}.bin"
            assert name in {p.name for p in corpus_files(target)}, (
                f"bin/fuzz --write-seeds ({target})"
            )


@pytest.mark.parametrize("target", list(TARGETS))
def test_seed_inputs_reach_the_deepest_outcome(fuzz_runner, target):
    """The harness drives real work: a seed session opens a call and gets utterances back."""
    for data in seed_inputs()[target]:
        outcome = attempt(fuzz_runner(target), data)
        assert outcome.error is None and outcome.label == SEED_OUTCOMES[target], outcome
