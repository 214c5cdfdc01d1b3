"""Inputs of the audio targets, as hypothesis strategies of bytes (a corpus file's form).

- WAV: the file itself. Valid files of every encoding WAV carries (plain, extensible
  and RF64 headers, extra and odd-sized chunks, streaming placeholder sizes), the
  same with header fields set to interesting or random values (sizes, format tags,
  channels, rates, bits, extensible fields), then bit flips, truncation, insertions
  and deletions; arbitrary bytes; FLAC and AIFF files, mutated or not, for
  libsndfile's side of `open_audio`.
- Raw PCM: a 9-byte case header (`RAW_CASE`: encoding index, channels, rate, channel
  mode, bytes per push) and the payload.

Strategies are built once (module constants or cached functions): building them
inside a draw costs more than the inputs take to run.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from functools import cache

from hypothesis import strategies as st

from streamser.audio import AudioFormat, Encoding
from streamser.audio.formats import encode_samples
from streamser.audio.wav import wav_header_bytes
from streamser.constants import MAX_CHANNELS, MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ
from support.speech import voiced

# --- bytes: mutations shared by every binary input ------------------------------------

HEADER_BYTES = 96
"""Mutations favour the first bytes of a file, where its header is."""

_MUTATIONS = st.sampled_from(("flip", "flip", "byte", "truncate", "insert", "delete", "copy"))
_BYTE_VALUES = st.sampled_from((0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)) | st.integers(0, 255)


@st.composite
def mutated(draw: st.DrawFn, inputs: st.SearchStrategy[bytes], most: int = 4) -> bytes:
    """`inputs` with 1..`most` bit flips, byte changes, truncations, insertions, deletions."""
    data = bytearray(draw(inputs))
    for _ in range(draw(st.integers(1, most))):
        op = draw(_MUTATIONS)
        if op == "insert" or not data:
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
            continue
        end = min(len(data), HEADER_BYTES) if draw(st.booleans()) else len(data)
        at = draw(st.integers(0, end - 1))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte":
            data[at] = draw(_BYTE_VALUES)
        elif op == "truncate":
            del data[at:]
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:  # copy a run of bytes over another place (repeats chunk ids, sizes...)
            length = draw(st.integers(1, 8))
            source = draw(st.integers(0, len(data) - 1))
            data[at : at + length] = data[source : source + length]
    return bytes(data)


# --- WAV files ----------------------------------------------------------------------

WAV_ENCODINGS = {  # encoding: (format tag, container bits)
    Encoding.PCM_U8: (0x0001, 8),
    Encoding.PCM_S16: (0x0001, 16),
    Encoding.PCM_S24: (0x0001, 24),
    Encoding.PCM_S32: (0x0001, 32),
    Encoding.FLOAT32: (0x0003, 32),
    Encoding.FLOAT64: (0x0003, 64),
    Encoding.MULAW: (0x0007, 8),
    Encoding.ALAW: (0x0006, 8),
}
GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")

INTERESTING_16 = (0, 1, 2, 3, 6, 7, 8, 12, 16, 20, 24, 32, 40, 64, 65, 0x7FFF, 0xFFFE, 0xFFFF)
INTERESTING_32 = (
    *INTERESTING_16,
    *(999, 1000, 8000, 16000, 44100, 384000, 384001, 1 << 20, (1 << 20) + 1),
    *(0x7FFF0000, 0x7FFFF000, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF),
)
FIELDS_16 = ("tag", "channels", "block_align", "bits", "cb_size", "valid_bits", "sub_tag")
FIELDS_32 = ("riff_size", "fmt_size", "data_size", "rate", "byte_rate", "channel_mask")
FIELDS_64 = ("ds64_riff", "ds64_data", "ds64_samples")
EXTRA_CHUNK_IDS = (b"LIST", b"fact", b"bext", b"junk", b"JUNK", b"fmt ", b"ds64", b"cue ")

_VALUES_16 = st.sampled_from(INTERESTING_16) | st.integers(0, 0xFFFF)
_VALUES_32 = st.sampled_from(INTERESTING_32) | st.integers(0, 0xFFFFFFFF)
_VALUES_64 = st.sampled_from((*INTERESTING_32, 1 << 40, (1 << 64) - 1)) | st.integers(
    0, (1 << 64) - 1
)
_FIELD_CHANGE = st.one_of(
    st.tuples(st.sampled_from(FIELDS_16), _VALUES_16),
    st.tuples(st.sampled_from(FIELDS_32), _VALUES_32),
    st.tuples(st.sampled_from(FIELDS_64), _VALUES_64),
)
_FIELD_CHANGES = st.sampled_from((0, 0, 0, 1)).flatmap(
    lambda n: st.lists(_FIELD_CHANGE, min_size=n, max_size=3 * n)
)
_WAV_CHANNELS = st.sampled_from((1, 1, 2)) | st.integers(1, MAX_CHANNELS)
_RATES = st.sampled_from((8000, 16000, 44100, 48000)) | st.integers(
    MIN_SAMPLE_RATE_HZ, MAX_SAMPLE_RATE_HZ
)
_REPEATS = st.sampled_from((1, 1, 7)) | st.integers(1, 64)
_LAYOUTS = st.sampled_from(("plain", "plain", "extensible", "cb_size", "rf64"))
_GUID_TAILS = st.sampled_from((GUID_TAIL, GUID_TAIL, bytes(14))) | st.binary(
    min_size=14, max_size=14
)
_EXTRA_IDS_VALID = st.sampled_from((b"LIST", b"fact", b"bext", b"junk", b"cue "))
_EXTRA_CHUNKS_VALID = st.lists(
    st.tuples(_EXTRA_IDS_VALID, st.binary(max_size=9), st.just(True), st.booleans()), max_size=2
)
_EXTRA_CHUNKS = st.lists(
    st.tuples(
        st.sampled_from(EXTRA_CHUNK_IDS) | st.binary(min_size=4, max_size=4),
        st.binary(max_size=9),
        st.booleans(),  # the pad byte after an odd-sized body
        st.booleans(),  # before or after fmt
    ),
    max_size=2,
)


def _chunk(chunk_id: bytes, body: bytes, declared: int | None = None, pad: bool = True) -> bytes:
    size = len(body) if declared is None else declared
    padding = b"\0" if pad and size & 1 else b""
    return struct.pack("<4sI", chunk_id, size & 0xFFFFFFFF) + body + padding


@dataclass(frozen=True)
class WavFile:
    """A generated WAV file and, when it is valid, what it holds."""

    data: bytes
    format: AudioFormat | None
    samples: bytes


@st.composite
def wav_structures(draw: st.DrawFn, valid: bool = False) -> WavFile:
    """A WAV file: with `valid`, one that any reader must decode (plain, extensible or
    RF64 headers, extra chunks, streaming placeholder sizes); otherwise up to three
    header fields changed and now and then a chunk cut short."""
    encoding = draw(st.sampled_from(list(WAV_ENCODINGS)))
    tag, bits = WAV_ENCODINGS[encoding]
    channels = draw(_WAV_CHANNELS)
    frame_bytes = channels * bits // 8
    frames = draw(st.integers(0, max(1, 256 // frame_bytes)))
    data = draw(st.binary(min_size=frames * frame_bytes, max_size=frames * frame_bytes))
    data *= draw(_REPEATS)
    rate, layout = draw(_RATES), draw(_LAYOUTS)
    f = {
        "tag": 0xFFFE if layout == "extensible" else tag,
        "channels": channels,
        "rate": rate,
        "byte_rate": rate * frame_bytes,
        "block_align": frame_bytes,
        "bits": bits,
        "cb_size": 22 if layout == "extensible" else 0,
        "valid_bits": bits,
        "channel_mask": (1 << min(channels, 32)) - 1,
        "sub_tag": tag,
        "data_size": 0xFFFFFFFF if layout == "rf64" else len(data),
        "ds64_riff": 0,
        "ds64_data": len(data),
        "ds64_samples": len(data) // max(1, frame_bytes),
    }
    if layout != "rf64" and draw(st.integers(0, 9)) == 0:
        f["data_size"] = draw(st.sampled_from((0, 0x7FFFF000, 0xFFFFFFFF)))  # streaming writers
    changes = {} if valid else dict(draw(_FIELD_CHANGES))
    f |= changes
    cut = not valid and draw(st.integers(0, 9)) == 0

    fmt = struct.pack(
        "<HHIIHH",
        *(f["tag"], f["channels"], f["rate"], f["byte_rate"], f["block_align"], f["bits"]),
    )
    if layout == "cb_size":
        fmt += struct.pack("<H", f["cb_size"])
    elif layout == "extensible":
        fmt += struct.pack("<HHIH", f["cb_size"], f["valid_bits"], f["channel_mask"], f["sub_tag"])
        fmt += GUID_TAIL if valid else draw(_GUID_TAILS)
    if cut:
        fmt = fmt[: draw(st.integers(0, len(fmt)))]

    extra = draw(_EXTRA_CHUNKS_VALID if valid else _EXTRA_CHUNKS)
    chunks = [_chunk(i, body, pad=pad) for i, body, pad, before in extra if before]
    chunks.append(_chunk(b"fmt ", fmt, changes.get("fmt_size")))
    chunks += [_chunk(i, body, pad=pad) for i, body, pad, before in extra if not before]
    riff_id = b"RIFF"
    if layout == "rf64":
        riff_id = b"RF64"
        ds64 = struct.pack("<QQQI", f["ds64_riff"], f["ds64_data"], f["ds64_samples"], 0)
        if cut:
            ds64 = ds64[: draw(st.integers(0, len(ds64)))]
        chunks.insert(0, _chunk(b"ds64", ds64))
    data_chunk = struct.pack("<4sI", b"data", f["data_size"]) + data
    body = b"WAVE" + b"".join(chunks) + data_chunk
    riff_size = changes.get("riff_size", 0xFFFFFFFF if layout == "rf64" else len(body))
    file = struct.pack("<4sI", riff_id, riff_size) + body
    return WavFile(file, AudioFormat(rate, channels, encoding) if valid else None, data)


def wav_files() -> st.SearchStrategy[bytes]:
    """WAV files, valid or with header fields changed."""
    return wav_structures().map(lambda wav: wav.data)


@cache
def container_seeds() -> tuple[bytes, ...]:
    """Small FLAC and AIFF files: `open_audio` hands paths that are not RIFF to libsndfile."""
    import soundfile

    samples = voiced(0.05, rate=8000)
    seeds = []
    for container, subtype in (("FLAC", "PCM_16"), ("AIFF", "PCM_16"), ("AIFF", "FLOAT")):
        buffer = io.BytesIO()
        soundfile.write(buffer, samples, 8000, format=container, subtype=subtype)
        seeds.append(buffer.getvalue())
    return tuple(seeds)


@cache
def wav_inputs() -> st.SearchStrategy[bytes]:
    """What the WAV target reads: WAV files, mutated or not, other containers, any bytes."""
    containers = st.sampled_from(container_seeds())
    riff_ids = st.sampled_from((b"RIFF", b"RF64", b"RIFX"))
    return st.one_of(
        wav_files(),
        wav_files(),
        mutated(wav_files()),
        mutated(wav_files(), most=12),
        st.binary(max_size=256),
        st.tuples(riff_ids, st.binary(max_size=128)).map(b"".join),
        containers | mutated(containers),
    )


def sample_wav() -> bytes:
    """A valid 16 kHz mono 16-bit WAV of 30 ms, for seed inputs."""
    data = encode_samples(voiced(0.03), Encoding.PCM_S16)
    return wav_header_bytes(AudioFormat(16000, 1, Encoding.PCM_S16), len(data)) + data


# --- raw PCM ------------------------------------------------------------------------

RAW_CASE = struct.Struct("<BBIBH")
"""Encoding index, channels, rate, channel mode (0 downmix, 1 split, n>1 channel n-2),
bytes per push (0: all at once); the payload follows."""
ENCODINGS = tuple(Encoding)


@dataclass(frozen=True)
class RawCase:
    encoding_index: int
    channels: int
    rate: int
    mode: int
    push_bytes: int
    payload: bytes

    def encode(self) -> bytes:
        fields = (self.encoding_index, self.channels, self.rate, self.mode, self.push_bytes)
        return RAW_CASE.pack(*fields) + self.payload

    @classmethod
    def decode(cls, data: bytes) -> RawCase:
        fields = RAW_CASE.unpack_from(data.ljust(RAW_CASE.size, b"\0"))
        return cls(*fields, payload=data[RAW_CASE.size :])


_RAW_CASES = st.builds(
    RawCase,
    st.integers(0, len(ENCODINGS) - 1) | st.integers(0, 255),
    _WAV_CHANNELS | st.integers(0, 255),
    _RATES | st.sampled_from((0, 999, 384001, 0xFFFFFFFF)),
    st.sampled_from((0, 1, 2)) | st.integers(0, 255),
    st.sampled_from((0, 1)) | st.integers(0, 0xFFFF),
    st.builds(lambda pattern, n: pattern * n, st.binary(max_size=512), _REPEATS),
)


def raw_inputs() -> st.SearchStrategy[bytes]:
    """Raw PCM of every encoding, at valid and invalid rates and channel counts."""
    return _RAW_CASES.map(RawCase.encode)
