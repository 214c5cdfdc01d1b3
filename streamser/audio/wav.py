"""A WAV header parser that works on non-seekable streams.

soundfile needs a seekable file to parse WAV; pipes (`espeak-ng --stdout | streamser
listen -`) and sockets are not. This parser reads the header forward only, chunk
by chunk, and knows the length fields that streaming writers leave behind: 0,
0xFFFFFFFF and values near 0x7FFFFFFF (espeak-ng writes 0x7FFFF000) mean "until
end of stream". RF64 is read through its ds64 chunk. Every error names the byte
offset where the header went wrong.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from streamser.audio.bytestream import ByteCursor
from streamser.audio.formats import AudioFormat, Encoding, check_channels, check_sample_rate

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_ALAW = 0x0006
WAVE_FORMAT_MULAW = 0x0007
WAVE_FORMAT_EXTENSIBLE = 0xFFFE

# The KSDATAFORMAT_SUBTYPE GUIDs are the format tag followed by this fixed tail.
_EXTENSIBLE_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")

_STREAMING_PLACEHOLDER_MIN = 0x7FFF0000
"""Data lengths at or above this are taken as "unknown": no real WAV is 2 GiB at 32 bits."""

_MAX_HEADER_CHUNK_BYTES = 1 << 20
"""Chunks before `data` (LIST, fact, bext...) larger than this are taken as corruption."""

_TAG_NAMES = {
    WAVE_FORMAT_PCM: "PCM",
    WAVE_FORMAT_IEEE_FLOAT: "IEEE float",
    WAVE_FORMAT_ALAW: "A-law",
    WAVE_FORMAT_MULAW: "mu-law",
    WAVE_FORMAT_EXTENSIBLE: "extensible",
}


@dataclass(frozen=True)
class WavHeader:
    """What the header says about the sample data that follows it.

    Attributes:
        format: Rate, channels and encoding of the samples.
        data_offset: Byte offset of the first sample in the stream.
        data_bytes: Length of the data chunk, or None when the writer did not know it.
    """

    format: AudioFormat
    data_offset: int
    data_bytes: int | None


def looks_like_riff(prefix: bytes) -> bool:
    """True when the first bytes start a RIFF-family file, which `read_wav_header` judges."""
    return prefix[:4] in (b"RIFF", b"RIFX", b"RF64")


def read_wav_header(cursor: ByteCursor) -> WavHeader:
    """Reads from the start of a WAV stream up to the first sample.

    Raises:
        AudioFormatError: Not a WAV, truncated, or an encoding streamser does not decode.
    """
    riff = cursor.read_exact(12, "the RIFF header")
    if riff[:4] == b"RIFX":
        raise cursor.error(0, "big-endian WAV (RIFX) is not supported")
    if riff[:4] not in (b"RIFF", b"RF64") or riff[8:12] != b"WAVE":
        raise cursor.error(0, f"not a WAV file (starts with {riff[:4]!r}, expected b'RIFF')")
    is_rf64 = riff[:4] == b"RF64"

    fmt: AudioFormat | None = None
    rf64_data_bytes: int | None = None
    while True:
        chunk_offset = cursor.offset
        header = cursor.read(8)
        if not header:
            raise cursor.error(chunk_offset, "the stream ends before any data chunk")
        if len(header) < 8:
            raise cursor.error(
                chunk_offset, f"stream ends inside a chunk header ({len(header)} of 8 bytes)"
            )
        chunk_id, size = struct.unpack("<4sI", header)
        if chunk_id == b"data":
            if fmt is None:
                raise cursor.error(chunk_offset, "data chunk before the fmt chunk")
            if is_rf64 and size == 0xFFFFFFFF:
                data_bytes = rf64_data_bytes
            elif size == 0 or size >= _STREAMING_PLACEHOLDER_MIN:
                data_bytes = None
            else:
                data_bytes = size
            return WavHeader(format=fmt, data_offset=cursor.offset, data_bytes=data_bytes)
        if size > _MAX_HEADER_CHUNK_BYTES:
            raise cursor.error(
                chunk_offset, f"chunk {_printable(chunk_id)} claims {size} bytes before any audio"
            )
        body = cursor.read_exact(size + (size & 1), f"the {_printable(chunk_id)} chunk")[:size]
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(body, cursor, chunk_offset + 8)
        elif chunk_id == b"ds64" and is_rf64:
            if size < 16:
                raise cursor.error(chunk_offset, "ds64 chunk is shorter than 16 bytes")
            rf64_data_bytes = struct.unpack_from("<Q", body, 8)[0]


def _parse_fmt(body: bytes, cursor: ByteCursor, offset: int) -> AudioFormat:
    """Reads a fmt chunk body that starts at byte `offset` of the stream."""
    if len(body) < 16:
        raise cursor.error(offset, f"fmt chunk is {len(body)} bytes, expected at least 16")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    container_bits = bits
    if tag == WAVE_FORMAT_EXTENSIBLE:
        if len(body) < 40:
            raise cursor.error(offset, "extensible fmt chunk is shorter than 40 bytes")
        valid_bits = struct.unpack_from("<H", body, 18)[0]
        guid = body[24:40]
        if guid[2:] != _EXTENSIBLE_GUID_TAIL:
            raise cursor.error(offset + 24, f"unknown extensible sub-format {guid.hex()}")
        tag = struct.unpack_from("<H", guid)[0]
        bits = valid_bits or container_bits
    if channels == 0:
        raise cursor.error(offset + 2, "the header declares zero channels")
    for field_offset, check, value in ((2, check_channels, channels), (4, check_sample_rate, rate)):
        try:
            check(value)
        except ValueError as error:
            raise cursor.error(offset + field_offset, str(error)) from None
    encoding = _encoding_for(tag, container_bits)
    if encoding is None:
        accepted = "PCM 8/16/24/32-bit, float 32/64-bit, mu-law, A-law (plain or extensible)"
        raise cursor.error(
            offset,
            f"unsupported encoding: {_TAG_NAMES.get(tag, f'format tag 0x{tag:04X}')}"
            f" at {container_bits} bits (accepted: {accepted})",
        )
    if bits > container_bits:
        raise cursor.error(
            offset + 18, f"{bits} valid bits do not fit {container_bits}-bit samples"
        )
    fmt = AudioFormat(sample_rate_hz=rate, channels=channels, encoding=encoding)
    if block_align != fmt.bytes_per_frame:
        raise cursor.error(
            offset + 12,
            f"block align {block_align} does not match {channels} channels of "
            f"{container_bits}-bit samples ({fmt.bytes_per_frame})",
        )
    return fmt


def _encoding_for(tag: int, container_bits: int) -> Encoding | None:
    table = {
        (WAVE_FORMAT_PCM, 8): Encoding.PCM_U8,
        (WAVE_FORMAT_PCM, 16): Encoding.PCM_S16,
        (WAVE_FORMAT_PCM, 24): Encoding.PCM_S24,
        (WAVE_FORMAT_PCM, 32): Encoding.PCM_S32,
        (WAVE_FORMAT_IEEE_FLOAT, 32): Encoding.FLOAT32,
        (WAVE_FORMAT_IEEE_FLOAT, 64): Encoding.FLOAT64,
        (WAVE_FORMAT_MULAW, 8): Encoding.MULAW,
        (WAVE_FORMAT_ALAW, 8): Encoding.ALAW,
    }
    return table.get((tag, container_bits))


def wav_header_bytes(fmt: AudioFormat, data_bytes: int | None) -> bytes:
    """A canonical WAV header; `data_bytes=None` writes the streaming placeholder.

    For writers (the CLI's `convert`, test fixtures) that stream WAV to a pipe.
    """
    tags = {
        Encoding.FLOAT32: WAVE_FORMAT_IEEE_FLOAT,
        Encoding.FLOAT64: WAVE_FORMAT_IEEE_FLOAT,
        Encoding.MULAW: WAVE_FORMAT_MULAW,
        Encoding.ALAW: WAVE_FORMAT_ALAW,
    }
    if fmt.encoding is Encoding.PCM_S8:
        raise ValueError("WAV stores 8-bit PCM unsigned; use Encoding.PCM_U8")
    tag = tags.get(fmt.encoding, WAVE_FORMAT_PCM)
    width = fmt.encoding.bytes_per_sample
    size = 0xFFFFFFFF if data_bytes is None else data_bytes
    riff_size = 0xFFFFFFFF if data_bytes is None else 36 + data_bytes + (data_bytes & 1)
    return (
        struct.pack("<4sI4s", b"RIFF", riff_size, b"WAVE")
        + struct.pack(
            "<4sIHHIIHH",
            b"fmt ",
            16,
            tag,
            fmt.channels,
            fmt.sample_rate_hz,
            fmt.sample_rate_hz * fmt.bytes_per_frame,
            fmt.bytes_per_frame,
            width * 8,
        )
        + struct.pack("<4sI", b"data", size)
    )


def _printable(chunk_id: bytes) -> str:
    return repr(chunk_id.decode("latin-1"))
