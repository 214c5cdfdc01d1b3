"""The canonical stream every source is converted to.

One place for these numbers: the segmenter, the ring buffer, the worker and the
training frontend all derive their sizes from them.
"""

SAMPLE_RATE_HZ = 16_000
"""Canonical sample rate of the runtime stream and of every bundled model."""

FRAME_MS = 30
"""webrtcvad accepts 10, 20 or 30 ms; 30 ms is the most robust and the cheapest."""

FRAME_SAMPLES = SAMPLE_RATE_HZ * FRAME_MS // 1000
"""480 samples of int16 mono per frame."""

MIN_SAMPLE_RATE_HZ = 1_000
MAX_SAMPLE_RATE_HZ = 384_000
"""Declared rates outside this range are rejected as corrupt rather than resampled."""

MAX_CHANNELS = 64
