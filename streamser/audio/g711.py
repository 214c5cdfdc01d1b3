"""G.711 mu-law and A-law companding (ITU-T G.711), vectorised with numpy.

Telephone audio (Twilio, AudioHook, 8 kHz call recordings) arrives in these codes.
The stdlib `audioop` that used to do this is gone from Python 3.13. Decoding goes
through 256-entry tables; encoding follows the segment search of the reference
implementation, so `decode(encode(x))` is the G.711 quantisation of `x`.
"""

from __future__ import annotations

import numpy as np

_MULAW_BIAS = 0x84
_MULAW_CLIP = 32635


def _mulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _MULAW_BIAS) << exponent) - _MULAW_BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0),
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


MULAW_TO_INT16 = _mulaw_table()
ALAW_TO_INT16 = _alaw_table()
MULAW_TO_FLOAT32 = MULAW_TO_INT16.astype(np.float32) / np.float32(32768.0)
"""Decoded straight to the pipeline's float scale: one table lookup per sample."""
ALAW_TO_FLOAT32 = ALAW_TO_INT16.astype(np.float32) / np.float32(32768.0)


def mulaw_decode(codes: np.ndarray) -> np.ndarray:
    """uint8 mu-law codes -> int16 linear samples."""
    return MULAW_TO_INT16[np.asarray(codes, dtype=np.uint8)]


def alaw_decode(codes: np.ndarray) -> np.ndarray:
    """uint8 A-law codes -> int16 linear samples."""
    return ALAW_TO_INT16[np.asarray(codes, dtype=np.uint8)]


def _segment(magnitude: np.ndarray) -> np.ndarray:
    """Position of the highest set bit above bit 7, 0..7 (the G.711 segment)."""
    exponent = np.zeros(magnitude.shape, dtype=np.int32)
    for bit in range(8, 15):
        exponent += magnitude >= (1 << bit)
    return exponent


def mulaw_encode(samples: np.ndarray) -> np.ndarray:
    """int16 linear samples -> uint8 mu-law codes."""
    x = np.asarray(samples, dtype=np.int32)
    sign = np.where(x < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), _MULAW_CLIP) + _MULAW_BIAS
    exponent = _segment(magnitude)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


def alaw_encode(samples: np.ndarray) -> np.ndarray:
    """int16 linear samples -> uint8 A-law codes."""
    x = np.asarray(samples, dtype=np.int32)
    mask = np.where(x >= 0, 0xD5, 0x55)
    magnitude = np.where(x >= 0, x, -x - 1)
    magnitude = np.minimum(magnitude, 0x7FFF)
    exponent = _segment(magnitude)
    shift = np.where(exponent == 0, 4, exponent + 3)
    mantissa = (magnitude >> shift) & 0x0F
    return ((((exponent << 4) | mantissa) ^ mask) & 0xFF).astype(np.uint8)
