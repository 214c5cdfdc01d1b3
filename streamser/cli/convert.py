"""`streamser convert`: any supported input -> canonical 16 kHz mono 16-bit WAV.

Useful on its own (preparing corpora, checking what streamser hears) and the
simplest end-to-end exercise of the audio layer from the command line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import BinaryIO

import numpy as np

from streamser.audio import AudioFormat, Encoding, StreamConverter, open_audio
from streamser.audio.wav import wav_header_bytes
from streamser.cli.audio_args import add_input_options, channel_mode_from, raw_format_from
from streamser.cli.command import Command
from streamser.constants import SAMPLE_RATE_HZ
from streamser.errors import SourceError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="audio file, or - for standard input")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        help="output WAV, or - for standard output; with --channel-mode split, "
        "one file per channel named OUTPUT-chN.wav",
    )
    add_input_options(parser)


def run(args: argparse.Namespace) -> int:
    mode = channel_mode_from(args)
    with open_audio(args.input, raw_format_from(args)) as reader:
        converter = StreamConverter(reader.format, mode, name=reader.name)
        sinks = _open_sinks(args.output, converter.outputs)
        try:
            for block in reader.blocks():
                _write(sinks, converter.process(block))
            _write(sinks, converter.flush())
        finally:
            for sink in sinks:
                sink.close()
    return 0


class _WavSink:
    """Streams canonical samples into a WAV; patches the length when the target is seekable."""

    FORMAT = AudioFormat(sample_rate_hz=SAMPLE_RATE_HZ, channels=1, encoding=Encoding.PCM_S16)

    def __init__(self, stream: BinaryIO, close_stream: bool) -> None:
        self._stream = stream
        self._close_stream = close_stream
        self._data_bytes = 0
        stream.write(wav_header_bytes(self.FORMAT, data_bytes=None))

    def write(self, samples) -> None:
        data = np.asarray(samples, dtype="<i2").tobytes()  # canonical int16 is the WAV's format
        self._stream.write(data)
        self._data_bytes += len(data)

    def close(self) -> None:
        if self._stream.seekable():
            self._stream.seek(0)
            self._stream.write(wav_header_bytes(self.FORMAT, self._data_bytes))
        self._stream.flush()
        if self._close_stream:
            self._stream.close()


def _open_sinks(output: str, count: int) -> list[_WavSink]:
    if output == "-":
        if count > 1:
            raise SourceError("standard output holds one stream; split channels into files")
        return [_WavSink(sys.stdout.buffer, close_stream=False)]
    path = Path(output)
    paths = [path] if count == 1 else [_channel_path(path, i) for i in range(count)]
    sinks = []
    for target in paths:
        try:
            sinks.append(_WavSink(open(target, "wb"), close_stream=True))  # noqa: SIM115
        except OSError as error:
            for sink in sinks:
                sink.close()
            raise SourceError(f"{target}: cannot write ({error.strerror})") from None
    return sinks


def _channel_path(path: Path, channel: int) -> Path:
    return path.with_name(f"{path.stem}-ch{channel}{path.suffix or '.wav'}")


def _write(sinks: list[_WavSink], outputs) -> None:
    for sink, samples in zip(sinks, outputs, strict=True):
        sink.write(samples)


COMMAND = Command(
    name="convert",
    help="convert any supported audio to canonical 16 kHz mono 16-bit WAV",
    configure=configure,
    run=run,
    description=__doc__,
)
