"""Audio made in the test, never downloaded: builders shared by the whole suite."""

from __future__ import annotations

import struct

import numpy as np

from streamser.audio import AudioFormat, Encoding
from streamser.audio.formats import encode_samples
from streamser.audio.wav import wav_header_bytes


def sine(freq_hz: float, seconds: float, rate_hz: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def wav_bytes(samples: np.ndarray, rate_hz: int, encoding: Encoding = Encoding.PCM_S16) -> bytes:
    """A plain WAV file in memory; `samples` is float32 [frames] or [frames, channels]."""
    samples = samples.reshape(len(samples), -1)
    data = encode_samples(samples, encoding)
    fmt = AudioFormat(rate_hz, samples.shape[1], encoding)
    return wav_header_bytes(fmt, len(data)) + data


def extensible_wav_bytes(
    samples: np.ndarray, rate_hz: int, container_bits: int, valid_bits: int, tag: int = 1
) -> bytes:
    """A WAVE_FORMAT_EXTENSIBLE file, as multichannel and 24-bit writers produce."""
    samples = samples.reshape(len(samples), -1)
    channels = samples.shape[1]
    encoding = {16: Encoding.PCM_S16, 24: Encoding.PCM_S24, 32: Encoding.PCM_S32}[container_bits]
    if tag == 3:
        encoding = Encoding.FLOAT32
    data = encode_samples(samples, encoding)
    block = channels * container_bits // 8
    guid = struct.pack("<H", tag) + bytes.fromhex("000000001000800000aa00389b71")
    fmt = (
        struct.pack(
            "<HHIIHHHHI",
            0xFFFE,
            channels,
            rate_hz,
            rate_hz * block,
            block,
            container_bits,
            22,
            valid_bits,
            (1 << channels) - 1,
        )
        + guid
    )
    return (
        struct.pack("<4sI4s", b"RIFF", 4 + 8 + len(fmt) + 8 + len(data), b"WAVE")
        + struct.pack("<4sI", b"fmt ", len(fmt))
        + fmt
        + struct.pack("<4sI", b"data", len(data))
        + data
    )
