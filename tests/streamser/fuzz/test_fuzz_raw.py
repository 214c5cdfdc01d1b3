"""Fuzzing raw PCM decoding: a declared `AudioFormat`, `decode_samples`, the raw reader
of `open_audio` and `StreamConverter`, over every encoding, rate, channel count,
channel mode, byte count and push size.

A declared format is valid or refused with a one-line `ValueError`; whole frames
decode to finite samples in [-1, 1], a partial frame is refused (`ValueError`);
the reader gives the same samples block by block; the converter gives one int16
stream per output whose length is the input's duration at 16 kHz.
"""

from __future__ import annotations

from hypothesis import event, given
from support.fuzz.harness import assert_holds, fuzz_settings
from support.fuzz.targets import TARGETS


@fuzz_settings()
@given(data=TARGETS["raw"].inputs())
def test_declared_pcm_decodes_and_converts_or_is_refused_in_one_line(fuzz_runner, data):
    event(assert_holds(fuzz_runner("raw"), data).label)
