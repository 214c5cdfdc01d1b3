"""The allocator setting of `streamser serve`: large buffers stay out of the heap."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
import numpy as np
from streamser.allocator import keep_large_buffers_out_of_heap

if sys.argv[1] == "fixed":
    assert keep_large_buffers_out_of_heap()
freed = np.ones(1 << 20, np.uint8)
del freed  # a freed mapping: glibc raises its threshold past it
block = np.ones(256 << 10, np.uint8)  # a ring or an utterance
address = block.ctypes.data
with open("/proc/self/maps") as maps:
    for line in maps:
        span, *_, name = line.split(" ")
        low, high = (int(x, 16) for x in span.split("-"))
        if low <= address < high:
            print("heap" if name.strip() == "[heap]" else "mapping")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_large_buffer_after_a_freed_one_gets_its_own_mapping_only_when_fixed():
    def where(setting: str) -> str:
        run = [sys.executable, "-c", PROBE, setting]
        return subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip()

    assert where("default") == "heap"  # what made a server's memory creep up
    assert where("fixed") == "mapping"  # freed, it goes back to the system
