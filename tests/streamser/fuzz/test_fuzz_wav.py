"""Fuzzing the WAV decoder and reader: `read_wav_header`, `open_audio` on a stream and
on a path (other containers go to libsndfile), and `FileSource`.

Any bytes are decoded or refused with a one-line `AudioFormatError`; the stream
and the path decode a RIFF file alike; and every valid WAV decodes to exactly the
samples it holds.
"""

from __future__ import annotations

import io

import numpy as np
from hypothesis import event, given
from support.fuzz.audio_inputs import wav_structures
from support.fuzz.harness import assert_holds, fuzz_settings
from support.fuzz.targets import TARGETS

from streamser.audio import open_audio
from streamser.audio.formats import decode_samples


@fuzz_settings()
@given(data=TARGETS["wav"].inputs())
def test_any_bytes_decode_or_raise_a_one_line_audio_format_error(fuzz_runner, data):
    event(assert_holds(fuzz_runner("wav"), data).label)


@fuzz_settings(scale=0.5)
@given(wav=wav_structures(valid=True))
def test_every_valid_wav_decodes_to_the_samples_it_holds(wav):
    with open_audio(io.BytesIO(wav.data)) as reader:
        assert reader.format == wav.format
        decoded = reader.read_all()
    expected = decode_samples(wav.samples, wav.format)
    assert decoded.shape == expected.shape
    assert np.array_equal(decoded, expected)
