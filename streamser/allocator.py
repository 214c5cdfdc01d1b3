"""The C allocator setting a long-running server needs: large buffers back to the system.

glibc serves an allocation of 128 KiB or more with a mapping of its own, which goes
back to the system when freed, but it raises that threshold to the size of any such
block freed (up to 32 MiB on 64-bit). A server frees a call's rings (about 1 MB a
channel) when the call ends, so after the first ended call every ring, utterance and
model input lands in the heap, among small objects that outlive it; the holes they
leave are reused only in part, and resident memory creeps up for hours while the bytes
in use stay level. Fixing the threshold (`mallopt(M_MMAP_THRESHOLD, ...)`, which also
stops the adjustment) keeps large buffers out of the heap.

This is process-wide, so `streamser serve` applies it to the process it owns; a library
embedding streamser leaves its host's allocator alone.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
"""mallopt's parameter number (glibc malloc.h)."""
MMAP_THRESHOLD_BYTES = 128 * 1024
"""glibc's initial threshold, kept instead of letting it rise."""


def keep_large_buffers_out_of_heap(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fixes glibc's mmap threshold at `threshold` bytes. Returns whether it did: False
    on other platforms and C libraries (musl has no mallopt), which need no such setting
    or offer none."""
    if not sys.platform.startswith("linux"):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    applied = mallopt(M_MMAP_THRESHOLD, threshold) == 1
    log.debug("mmap threshold fixed at %d bytes: %s", threshold, applied)
    return applied
