"""Pipes, FIFOs and standard input are read so that a stop ends a read waiting for data."""

import contextlib
import os
import threading
import time

import numpy as np
import pytest
from support.audio import sine, wav_bytes

from streamser.audio import AudioFormat, Encoding, open_audio
from streamser.audio.pipe import PipeStream, ReadStopped
from streamser.errors import AudioFormatError


@pytest.fixture
def pipe():
    read_end, write_end = os.pipe()
    yield read_end, write_end
    for fd in (read_end, write_end):
        with contextlib.suppress(OSError):  # a test closed it already
            os.close(fd)


def test_a_read_returns_what_has_arrived_and_empty_bytes_at_the_end(pipe):
    read_end, write_end = pipe
    stream = PipeStream(read_end, "pipe")
    os.write(write_end, b"abc")
    assert stream.read(10) == b"abc"
    os.close(write_end)
    assert stream.read(10) == b""


def test_a_stop_ends_a_read_that_waits_on_an_idle_pipe(pipe):
    read_end, _writer_stays_open = pipe
    stop = threading.Event()
    stream = PipeStream(read_end, "pipe", stop)
    threading.Timer(0.2, stop.set).start()
    began = time.monotonic()
    with pytest.raises(ReadStopped):
        stream.read(10)
    assert time.monotonic() - began < 1.0


def test_a_fifo_is_read_as_a_stream_and_a_stop_ends_its_wait(tmp_path):
    fifo = tmp_path / "audio.fifo"
    os.mkfifo(fifo)
    signal = sine(300, 0.5, 16000)
    data = wav_bytes(signal, 16000)[44:]
    write_end = []

    def write_and_stay_open() -> None:  # the reader then waits for more
        write_end.append(os.open(fifo, os.O_WRONLY))
        os.write(write_end[0], data)

    writer = threading.Thread(target=write_and_stay_open)
    writer.start()
    stop = threading.Event()
    with open_audio(fifo, AudioFormat(16000, 1, Encoding.PCM_S16), stop=stop) as reader:
        blocks = reader.blocks(frames=len(signal))
        np.testing.assert_allclose(next(blocks)[:, 0], signal, atol=1e-4)
        threading.Timer(0.2, stop.set).start()
        with pytest.raises(ReadStopped):
            next(blocks)
    writer.join()
    os.close(write_end[0])


def test_a_fifo_that_is_not_wav_says_how_to_declare_raw_input(tmp_path):
    fifo = tmp_path / "audio.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(b"fLaC" + bytes(60)))
    writer.start()
    with pytest.raises(AudioFormatError, match=r"audio\.fifo: byte 0: not a WAV stream"):
        open_audio(fifo)
    writer.join()
