"""The ring: absolute indices across wrap-around, overwrite detection, claims as backpressure."""

import threading
import time

import numpy as np
import pytest

from streamser.ring import RingBuffer, RingClosed


def test_reads_back_what_was_written_across_the_wrap():
    ring = RingBuffer(10)
    data = np.arange(25, dtype=np.int16)
    for chunk in np.array_split(data, 7):
        ring.write(chunk)
    assert ring.written == 25
    assert ring.read(15, 25).tolist() == list(range(15, 25))
    assert ring.read(18, 22).tolist() == [18, 19, 20, 21]


def test_an_overwritten_span_reads_as_none():
    ring = RingBuffer(10)
    ring.write(np.arange(10, dtype=np.int16))
    ring.write(np.arange(3, dtype=np.int16))
    assert ring.read(2, 5) is None
    assert ring.read(3, 13) is not None


def test_reading_the_future_is_a_bug():
    ring = RingBuffer(10)
    ring.write(np.zeros(4, dtype=np.int16))
    with pytest.raises(ValueError, match="beyond"):
        ring.read(0, 5)


def test_a_waiting_write_blocks_on_a_claim_until_it_is_released():
    ring = RingBuffer(10)
    ring.write(np.zeros(8, dtype=np.int16))
    ring.claim(2)
    done = threading.Event()

    def writer():
        ring.write(np.ones(6, dtype=np.int16), wait=True)  # would overwrite samples 0..3
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(0.2)
    assert not done.is_set()
    assert ring.read(2, 8) is not None
    ring.release()
    thread.join(2)
    assert done.is_set() and ring.written == 14


def test_a_live_write_overwrites_claimed_audio():
    ring = RingBuffer(10)
    ring.write(np.zeros(8, dtype=np.int16))
    ring.claim(0)
    ring.write(np.ones(6, dtype=np.int16))
    assert ring.read(0, 8) is None


def test_a_waiting_write_gives_up_when_stopped():
    ring = RingBuffer(10)
    ring.write(np.zeros(10, dtype=np.int16))
    ring.claim(0)
    stop = threading.Event()
    stop.set()
    with pytest.raises(RingClosed):
        ring.write(np.zeros(1, dtype=np.int16), wait=True, stop=stop)
