"""The allocator setting of `streamser serve`: large buffers stay out of the heap."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCKS = 64
BLOCK_BYTES = 256 << 10  # a ring or an utterance

PROBE = f"""
import sys
import numpy as np
from streamser.allocator import keep_large_buffers_out_of_heap

def heap_bytes():
    with open("/proc/self/maps") as maps:
        for line in maps:
            span, *_, name = line.split(" ")
            if name.strip() == "[heap]":
                low, high = (int(x, 16) for x in span.split("-"))
                return high - low
    return 0

if sys.argv[1] == "fixed":
    assert keep_large_buffers_out_of_heap()
freed = np.ones(1 << 20, np.uint8)
del freed  # a freed mapping: glibc raises its threshold past it
before = heap_bytes()
blocks = [np.ones({BLOCK_BYTES}, np.uint8) for _ in range({BLOCKS})]
print(heap_bytes() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_large_buffers_after_a_freed_one_grow_the_heap_only_by_default():
    """By how much the heap grows for 16 MiB of blocks. Not by their address alone:
    whatever the heap already holds free (imports that compile their source leave
    some) serves the first blocks either way; what the setting changes is where the
    rest comes from."""

    def heap_growth(setting: str) -> int:
        run = [sys.executable, "-c", PROBE, setting]
        return int(subprocess.run(run, capture_output=True, text=True, check=True).stdout)

    blocks_bytes = BLOCKS * BLOCK_BYTES
    assert heap_growth("default") >= blocks_bytes * 3 // 4  # what made memory creep up
    assert heap_growth("fixed") < blocks_bytes // 16  # each block a mapping of its own
