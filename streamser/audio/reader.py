"""Open an audio input (path, pipe, stdin or raw PCM) and read it in blocks.

WAV and raw PCM go through streamser's own forward-only decoder, so a pipe works
as well as a file and errors carry byte offsets. Other containers that libsndfile
reads (FLAC, OGG/Vorbis, AIFF, ...) are supported from paths.

Truncated WAV or raw PCM (a recording cut short, a pipe that broke, a data chunk
that is not whole frames) is not an error: every whole frame is decoded, a partial
last frame is dropped, and one warning names the input and what was lost.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from streamser.audio.bytestream import ByteCursor, Closable, Readable
from streamser.audio.formats import AudioFormat, Encoding, decode_samples
from streamser.audio.pipe import PipeStream
from streamser.audio.wav import looks_like_riff, read_wav_header
from streamser.errors import AudioFormatError, SourceError

log = logging.getLogger(__name__)

STDIN = "-"
DEFAULT_BLOCK_FRAMES = 4096

AudioInput = str | os.PathLike | BinaryIO


class AudioReader:
    """An open input, decoded block by block into float32 `[frames, channels]` in [-1, 1].

    Use as a context manager; `blocks()` is a lazy iterator and can be consumed once.
    """

    name: str
    format: AudioFormat

    def blocks(self, frames: int = DEFAULT_BLOCK_FRAMES) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def read_all(self) -> np.ndarray:
        """The whole input as one `[frames, channels]` array."""
        parts = list(self.blocks())
        if not parts:
            return np.zeros((0, self.format.channels), dtype=np.float32)
        return np.concatenate(parts)


class PcmStreamReader(AudioReader):
    """Interleaved PCM from a forward-only stream: WAV data chunks and raw input."""

    def __init__(
        self,
        cursor: ByteCursor,
        fmt: AudioFormat,
        data_bytes: int | None,
        owned: Closable | None = None,
    ) -> None:
        self.name = cursor.name
        self.format = fmt
        self._cursor = cursor
        self._remaining = data_bytes
        self._declared = data_bytes
        self._owned = owned

    def blocks(self, frames: int = DEFAULT_BLOCK_FRAMES) -> Iterator[np.ndarray]:
        frame_bytes = self.format.bytes_per_frame
        start = self._cursor.offset
        while self._remaining is None or self._remaining > 0:
            want = frames * frame_bytes
            if self._remaining is not None:
                want = min(want, self._remaining)
            data = self._cursor.read(want)
            if self._remaining is not None:
                self._remaining -= len(data)
            whole = len(data) - len(data) % frame_bytes
            if whole:
                yield decode_samples(data[:whole], self.format)
            if len(data) < want or whole != len(data):
                self._end_early(self._cursor.offset - start, len(data) - whole, len(data) < want)
                return

    def _end_early(self, read: int, partial: int, stream_ended: bool) -> None:
        """Truncated input: the whole frames were decoded; one warning says what was lost."""
        lost = []
        if stream_ended and self._remaining:
            lost.append(
                f"the data chunk declares {self._declared} bytes, the stream ended after {read}"
            )
        if partial:
            lost.append(
                f"the last {partial} bytes (from byte {self._cursor.offset - partial}) are a "
                f"partial {self.format.bytes_per_frame}-byte frame ({self.format.describe()}) "
                "and were dropped"
            )
        if lost:
            log.warning("%s: truncated input: %s", self.name, "; ".join(lost))

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()


class SoundFileReader(AudioReader):
    """Any container libsndfile reads, from a seekable path."""

    def __init__(self, path: Path) -> None:
        import soundfile

        self.name = str(path)
        try:
            self._file = soundfile.SoundFile(path)
        except soundfile.LibsndfileError as error:
            raise AudioFormatError(
                f"{path}: byte 0: not a WAV, FLAC, OGG or other format libsndfile reads "
                f"({error.error_string})"
            ) from None
        try:
            self.format = AudioFormat(
                sample_rate_hz=self._file.samplerate,
                channels=self._file.channels,
                encoding=_sndfile_encoding(self._file.subtype),
            )
        except ValueError as error:
            self._file.close()
            raise AudioFormatError(f"{path}: byte 0: {error}") from None

    def blocks(self, frames: int = DEFAULT_BLOCK_FRAMES) -> Iterator[np.ndarray]:
        import soundfile

        try:
            for block in self._file.blocks(blocksize=frames, dtype="float32", always_2d=True):
                yield np.clip(np.nan_to_num(block), -1.0, 1.0)
        except soundfile.LibsndfileError as error:
            raise AudioFormatError(f"{self.name}: {error.error_string}") from None

    def close(self) -> None:
        self._file.close()


def _sndfile_encoding(subtype: str) -> Encoding:
    """The closest Encoding for a libsndfile subtype; only used to describe the input."""
    return {
        "PCM_U8": Encoding.PCM_U8,
        "PCM_S8": Encoding.PCM_S8,
        "PCM_24": Encoding.PCM_S24,
        "PCM_32": Encoding.PCM_S32,
        "FLOAT": Encoding.FLOAT32,
        "DOUBLE": Encoding.FLOAT64,
        "ULAW": Encoding.MULAW,
        "ALAW": Encoding.ALAW,
    }.get(subtype, Encoding.PCM_S16)


def open_audio(
    source: AudioInput,
    raw_format: AudioFormat | None = None,
    stop: threading.Event | None = None,
) -> AudioReader:
    """Opens a path, `"-"` (stdin) or a binary stream.

    Standard input and paths that are not regular files (FIFOs, devices) are read
    unbuffered from their descriptor (`streamser.audio.pipe`): once `stop` is set, a
    read waiting for data raises `ReadStopped` instead of waiting for the writer.

    Args:
        source: A path, `"-"` for standard input, or an open binary stream (pipe,
            socket file, BytesIO).
        raw_format: Set for headerless PCM; then the bytes are taken as this format.
        stop: Set by whoever wants a waiting read on a pipe to give up.

    Raises:
        SourceError: The input cannot be opened.
        AudioFormatError: The input is not audio streamser can decode.
    """
    if isinstance(source, (str, os.PathLike)) and os.fspath(source) == STDIN:
        try:
            fd = sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            raise SourceError("<stdin>: standard input is closed or not a file") from None
        return _open_stream(PipeStream(fd, "<stdin>", stop), "<stdin>", raw_format, owned=None)
    if isinstance(source, (str, os.PathLike)):
        return _open_path(Path(source), raw_format, stop)
    name = str(getattr(source, "name", "<stream>"))
    return _open_stream(source, name, raw_format, owned=None)


def _open_path(path: Path, raw_format: AudioFormat | None, stop: threading.Event | None):
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory, expected an audio file") from None
    except OSError as error:
        raise SourceError(f"{path}: cannot open ({error.strerror})") from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        os.close(fd)
        raise SourceError(f"{path}: is a directory, expected an audio file")
    if not stat.S_ISREG(mode):  # a FIFO, a device: a stream, read so that a stop ends it
        pipe = PipeStream(fd, str(path), stop, owned=True)
        return _open_stream(pipe, str(path), raw_format, owned=pipe)
    handle = os.fdopen(fd, "rb")
    if raw_format is not None:
        return _open_stream(handle, str(path), raw_format, owned=handle)
    prefix = handle.read(12)
    if looks_like_riff(prefix):
        return _open_wav(ByteCursor(handle, str(path), unread=prefix), owned=handle)
    handle.close()
    return SoundFileReader(path)


def _open_stream(
    stream: Readable, name: str, raw_format: AudioFormat | None, owned: Closable | None
) -> AudioReader:
    if raw_format is not None:
        return PcmStreamReader(ByteCursor(stream, name), raw_format, data_bytes=None, owned=owned)
    try:
        prefix = ByteCursor(stream, name).read(12)
        if not prefix:
            raise AudioFormatError(f"{name}: byte 0: empty input, expected a WAV header")
        if not looks_like_riff(prefix):
            raise AudioFormatError(
                f"{name}: byte 0: not a WAV stream (starts with {prefix[:4]!r}); "
                "for headerless audio declare it as raw PCM (rate, width, channels, encoding)"
            )
    except BaseException:
        if owned is not None:
            owned.close()
        raise
    return _open_wav(ByteCursor(stream, name, unread=prefix), owned=owned)


def _open_wav(cursor: ByteCursor, owned: Closable | None) -> AudioReader:
    try:
        header = read_wav_header(cursor)
    except BaseException:
        if owned is not None:
            owned.close()
        raise
    return PcmStreamReader(cursor, header.format, header.data_bytes, owned=owned)
