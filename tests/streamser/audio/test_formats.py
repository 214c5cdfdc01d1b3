"""Sample encodings: round trips, scale, and the format description's validation."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from streamser.audio import AudioFormat, Encoding
from streamser.audio.formats import decode_samples, encode_samples, float_to_int16

# Largest round-trip error per encoding, in units of full scale.
TOLERANCE = {
    Encoding.PCM_U8: 1 / 128,
    Encoding.PCM_S8: 1 / 128,
    Encoding.PCM_S16: 1 / 32768,
    Encoding.PCM_S24: 1 / 2**23,
    Encoding.PCM_S32: 1e-7,
    Encoding.FLOAT32: 1e-7,
    Encoding.FLOAT64: 1e-7,
    Encoding.MULAW: 0.032,
    Encoding.ALAW: 0.032,
}


@pytest.mark.parametrize("encoding", list(Encoding))
@given(
    samples=hnp.arrays(
        np.float32,
        st.tuples(st.integers(0, 64), st.integers(1, 3)),
        elements=st.integers(-32768, 32511).map(lambda i: np.float32(i / 32768)),
    )
)
def test_encode_then_decode_round_trips(encoding, samples):
    fmt = AudioFormat(sample_rate_hz=16000, channels=samples.shape[1], encoding=encoding)
    decoded = decode_samples(encode_samples(samples, encoding), fmt)
    assert decoded.shape == samples.shape
    assert decoded.dtype == np.float32
    tolerance = TOLERANCE[encoding] + np.abs(samples) * (
        1 / 16 if encoding in (Encoding.MULAW, Encoding.ALAW) else 0
    )
    assert np.all(np.abs(decoded - samples) <= tolerance + 1e-6)


@pytest.mark.parametrize(
    ("encoding", "raw", "expected"),
    [
        (Encoding.PCM_U8, bytes([0, 128, 255]), [-1.0, 0.0, 127 / 128]),
        (Encoding.PCM_S16, np.array([-32768, 0, 16384], "<i2").tobytes(), [-1.0, 0.0, 0.5]),
        (
            Encoding.PCM_S24,
            bytes([0, 0, 0x80, 0, 0, 0x40, 0xFF, 0xFF, 0xFF]),
            [-1.0, 0.5, -(2**-23)],
        ),
        (Encoding.PCM_S32, np.array([-(2**31), 2**30], "<i4").tobytes(), [-1.0, 0.5]),
    ],
)
def test_integer_encodings_use_full_scale(encoding, raw, expected):
    fmt = AudioFormat(16000, 1, encoding)
    np.testing.assert_allclose(decode_samples(raw, fmt)[:, 0], expected, atol=1e-7)


def test_float_input_is_made_finite_and_clipped():
    raw = np.array([np.nan, np.inf, -np.inf, 3.0, -0.25], "<f4").tobytes()
    decoded = decode_samples(raw, AudioFormat(16000, 1, Encoding.FLOAT32))[:, 0]
    np.testing.assert_array_equal(decoded, [0.0, 1.0, -1.0, 1.0, -0.25])


def test_partial_frames_are_refused():
    with pytest.raises(ValueError, match="whole number"):
        decode_samples(b"\x00\x01\x02", AudioFormat(16000, 1, Encoding.PCM_S16))


def test_float_to_int16_saturates_instead_of_wrapping():
    np.testing.assert_array_equal(
        float_to_int16(np.array([1.5, -1.5, 1.0])), [32767, -32768, 32767]
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample_rate_hz": 0, "channels": 1}, "sample rate"),
        ({"sample_rate_hz": 10_000_000, "channels": 1}, "sample rate"),
        ({"sample_rate_hz": 16000, "channels": 0}, "channels"),
        ({"sample_rate_hz": 16000, "channels": 1000}, "channels"),
    ],
)
def test_absurd_formats_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AudioFormat(encoding=Encoding.PCM_S16, **kwargs)


@pytest.mark.parametrize(
    ("alias", "encoding"), [("s16le", Encoding.PCM_S16), ("PCMU", Encoding.MULAW)]
)
def test_encoding_aliases(alias, encoding):
    assert Encoding.parse(alias) is encoding


def test_unknown_encoding_lists_the_accepted_ones():
    with pytest.raises(ValueError, match="accepted: u8, s8, s16"):
        Encoding.parse("mp3")
