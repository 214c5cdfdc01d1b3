"""G.711 companding against libsndfile, an independent implementation."""

import io

import numpy as np
import soundfile as sf

from streamser.audio import g711

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)
CODECS = [(g711.mulaw_encode, g711.mulaw_decode), (g711.alaw_encode, g711.alaw_decode)]


def _libsndfile_encode(samples: np.ndarray, subtype: str) -> np.ndarray:
    buffer = io.BytesIO()
    sf.write(buffer, samples, 8000, subtype=subtype, format="RAW", endian="LITTLE")
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8)


def _libsndfile_decode(codes: np.ndarray, subtype: str) -> np.ndarray:
    data, _ = sf.read(
        io.BytesIO(codes.tobytes()),
        samplerate=8000,
        channels=1,
        subtype=subtype,
        format="RAW",
        dtype="int16",
    )
    return data


def test_mulaw_decode_table_matches_libsndfile():
    np.testing.assert_array_equal(
        g711.mulaw_decode(ALL_CODES), _libsndfile_decode(ALL_CODES, "ULAW")
    )


def test_alaw_decode_table_matches_libsndfile():
    np.testing.assert_array_equal(
        g711.alaw_decode(ALL_CODES), _libsndfile_decode(ALL_CODES, "ALAW")
    )


def test_mulaw_encode_matches_libsndfile_for_every_int16():
    np.testing.assert_array_equal(
        g711.mulaw_encode(ALL_INT16), _libsndfile_encode(ALL_INT16, "ULAW")
    )


def test_alaw_encode_agrees_with_libsndfile_within_one_step():
    # libsndfile rounds negative magnitudes by truncation, the ITU reference (used here)
    # by one's complement; they may differ by one code step on segment boundaries.
    ours = g711.alaw_decode(g711.alaw_encode(ALL_INT16)).astype(np.int32)
    theirs = g711.alaw_decode(_libsndfile_encode(ALL_INT16, "ALAW")).astype(np.int32)
    differs = ours != theirs
    assert differs.mean() < 0.01
    step = np.abs(ours[differs] - theirs[differs])
    assert np.all(step <= 2 * np.abs(ours[differs]) // 16 + 16)


def test_every_code_value_survives_encode_then_decode():
    # mu-law has two codes for zero (0x7F, 0xFF): compare values, not codes.
    for encode, decode in CODECS:
        values = decode(ALL_CODES)
        np.testing.assert_array_equal(decode(encode(values)), values)


def test_quantisation_error_is_bounded_by_the_segment_step():
    for encode, decode in (
        (g711.mulaw_encode, g711.mulaw_decode),
        (g711.alaw_encode, g711.alaw_decode),
    ):
        restored = decode(encode(ALL_INT16)).astype(np.int32)
        error = np.abs(restored - ALL_INT16.astype(np.int32))
        # Each 8-bit code covers at most 1/16 of its segment: error below ~3.2 % + 1 LSB step.
        assert np.all(error <= np.abs(ALL_INT16.astype(np.int32)) // 16 + 64)
