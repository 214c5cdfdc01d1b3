"""Fixtures shared across the suite."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def speechlike() -> np.ndarray:
    """Two seconds of a vowel-like harmonic signal at 16 kHz with a pause in the middle."""
    rate = 16000
    t = np.arange(2 * rate) / rate
    f0 = 140 + 20 * np.sin(2 * np.pi * 3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = ((t % 1.0) < 0.6).astype(float)
    return (0.3 * voice * envelope).astype(np.float32)
