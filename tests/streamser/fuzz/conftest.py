"""Fuzzing the runtime's input decoders and protocol parsers (`support.fuzz`).

Two hypothesis profiles, chosen by the HYPOTHESIS_PROFILE environment variable:

- `ci` (the default): a few dozen inputs per test, so the whole directory runs in
  seconds; no example database; a failure prints its input and a
  `@reproduce_failure` blob. Inputs are random on every run (not derandomized):
  each CI run tries new ones, and a failure is reproduced from what it prints (or
  with `--hypothesis-seed`).
- `long`: a few thousand inputs per test, with the local example database, which
  replays earlier failures first. For longer runs and crasher collection, use bin/fuzz.

The profiles apply to these tests alone (`fuzz_settings`), not to the rest of the suite.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from support.fuzz.targets import TARGETS

# Inputs vary in cost by design (a header of 12 bytes, a call of 100 kB of audio).
_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
)
settings.register_profile(
    "long",
    max_examples=3000,
    deadline=None,
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
)


@pytest.fixture(scope="session")
def fuzz_runner(request):
    """`fuzz_runner(name)`: the target's runner, opened once per session (the protocol
    targets' inference pool runs the tiny test model)."""
    runners = {}

    def get(name: str):
        if name not in runners:
            target = TARGETS[name]
            model = request.getfixturevalue("loaded_model") if target.needs_model else None
            runners[name] = target.open(model)
        return runners[name]

    yield get
    for runner in runners.values():
        runner.close()
