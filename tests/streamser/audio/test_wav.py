"""The forward-only WAV parser: every encoding, streaming writers' headers, and bad input."""

import io
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.audio import extensible_wav_bytes, sine, wav_bytes

from streamser.audio import Encoding, open_audio
from streamser.errors import AudioFormatError, StreamserError

WAV_ENCODINGS = [e for e in Encoding if e is not Encoding.PCM_S8]


def read(data: bytes) -> tuple:
    with open_audio(io.BytesIO(data)) as reader:
        return reader.format, reader.read_all()


@pytest.mark.parametrize("encoding", WAV_ENCODINGS)
def test_every_wav_encoding_decodes_to_the_signal(encoding):
    signal = sine(440, 0.1, 8000)
    fmt, decoded = read(wav_bytes(signal, 8000, encoding))
    assert fmt.encoding is encoding
    assert fmt.sample_rate_hz == 8000
    tolerance = 0.02 if encoding in (Encoding.MULAW, Encoding.ALAW, Encoding.PCM_U8) else 1e-4
    np.testing.assert_allclose(decoded[:, 0], signal, atol=tolerance)


@pytest.mark.parametrize(
    ("container_bits", "valid_bits", "tag"), [(16, 16, 1), (24, 24, 1), (32, 24, 1), (32, 32, 3)]
)
def test_extensible_format(container_bits, valid_bits, tag):
    signal = np.stack([sine(300, 0.05, 48000), sine(500, 0.05, 48000)], axis=1)
    fmt, decoded = read(extensible_wav_bytes(signal, 48000, container_bits, valid_bits, tag))
    assert fmt.channels == 2
    np.testing.assert_allclose(decoded, signal, atol=1e-4)


@pytest.mark.parametrize("placeholder", [0, 0x7FFFF000, 0xFFFFFFFF])
def test_streaming_length_placeholders_read_to_end_of_stream(placeholder):
    signal = sine(200, 0.2, 16000)
    data = bytearray(wav_bytes(signal, 16000))
    struct.pack_into("<I", data, 40, placeholder)  # the data chunk's length field
    struct.pack_into("<I", data, 4, 0x7FFFF024)  # RIFF length, as espeak-ng writes it
    _, decoded = read(bytes(data))
    assert len(decoded) == len(signal)


def test_chunks_before_data_are_skipped_including_odd_padding():
    signal = sine(200, 0.05, 16000)
    plain = wav_bytes(signal, 16000)
    extra = struct.pack("<4sI", b"LIST", 3) + b"abc\x00"  # odd size, one pad byte
    data = plain[:36] + extra + plain[36:]
    _, decoded = read(data)
    assert len(decoded) == len(signal)


def test_rf64_reads_length_from_ds64():
    signal = sine(200, 0.05, 16000)
    plain = wav_bytes(signal, 16000)
    ds64 = struct.pack("<4sIQQQI", b"ds64", 28, 0, len(plain) - 44, len(signal), 0)
    data = b"RF64" + b"\xff\xff\xff\xff" + b"WAVE" + ds64 + plain[12:40] + b"\xff\xff\xff\xff"
    data += plain[44:] + b"junk after the data chunk"
    _, decoded = read(data)
    assert len(decoded) == len(signal)


def _corrupt(offset: int, value: bytes) -> bytes:
    data = bytearray(wav_bytes(sine(200, 0.01, 16000), 16000))
    data[offset : offset + len(value)] = value
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "byte 0: empty input"),
        (b"RIFF\x00\x00", "byte 0: stream ends after 6 of the 12 bytes"),
        (wav_bytes(sine(200, 0.01, 16000), 16000)[:30], "byte 20: stream ends after 10 of the 16"),
        (_corrupt(22, struct.pack("<H", 0)), "byte 22: the header declares zero channels"),
        (_corrupt(24, struct.pack("<I", 7)), "byte 24: sample rate 7 Hz is outside"),
        (_corrupt(24, struct.pack("<I", 4_000_000_000)), "sample rate 4000000000 Hz"),
        (_corrupt(20, struct.pack("<H", 0x55)), "byte 20: unsupported encoding: format tag 0x0055"),
        (_corrupt(32, struct.pack("<H", 3)), "byte 32: block align 3 does not match"),
        (_corrupt(0, b"RIFX"), "byte 0: big-endian WAV"),
        (_corrupt(8, b"AVI "), "byte 0: not a WAV file"),
        (_corrupt(36, b"data"[::-1]), "byte 364: the stream ends before any data chunk"),
        (_corrupt(36, b"LIST\xff\xff\xff\x00"), "byte 36: chunk 'LIST' claims 16777215 bytes"),
        (
            b"RIFF\x24\x00\x00\x00WAVEdata\x00\x00\x00\x00",
            "byte 12: data chunk before the fmt chunk",
        ),
    ],
)
def test_bad_headers_name_the_byte_offset(data, message):
    with pytest.raises(AudioFormatError, match=message) as info:
        read(data)
    assert "\n" not in str(info.value)


def test_a_trailing_partial_frame_is_dropped_with_a_warning_naming_its_offset(caplog):
    signal = sine(200, 0.01, 16000)
    data = bytearray(wav_bytes(np.stack([signal, signal], axis=1), 16000))
    struct.pack_into("<I", data, 40, 0)  # unknown length: read to the end
    data += b"\x01\x02\x03"
    _, decoded = read(bytes(data))
    assert len(decoded) == len(signal)
    [warning] = caplog.messages
    assert f"the last 3 bytes (from byte {len(data) - 3}) are a partial 4-byte frame" in warning
    caplog.clear()
    _, decoded = read(_corrupt(40, struct.pack("<I", 0x7FFFF000))[:44] + b"x")
    assert len(decoded) == 0
    assert "the last 1 bytes (from byte 44) are a partial 2-byte frame" in caplog.messages[0]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_hang_and_never_raise_anything_but_a_clean_error(data):
    try:
        fmt, decoded = read(data)
    except StreamserError as error:
        assert "\n" not in str(error)
        assert "byte " in str(error)
    else:  # random bytes that happen to form a valid WAV decode within range
        assert decoded.shape[1] == fmt.channels
        assert np.all(np.abs(decoded) <= 1.0)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 80), st.binary(min_size=1, max_size=8))
def test_mutated_headers_give_clean_errors_or_valid_audio(offset, patch):
    data = bytearray(wav_bytes(sine(300, 0.02, 16000), 16000))
    data[offset : offset + len(patch)] = patch
    try:
        fmt, decoded = read(bytes(data))
    except StreamserError as error:
        assert "\n" not in str(error)
    else:
        assert decoded.shape[1] == fmt.channels
        assert np.all(np.isfinite(decoded))
