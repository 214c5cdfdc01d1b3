"""Speech-like audio built in the test: voiced syllables that webrtcvad calls speech.

Not speech, but close enough for the detector: a harmonic source at a moving
pitch, shaped into syllables of about 200 ms, with a little breath noise.
"""

from __future__ import annotations

import numpy as np

RATE = 16000


def voiced(seconds: float, f0_hz: float = 140.0, seed: int = 0, rate: int = RATE) -> np.ndarray:
    """One utterance of `seconds`, float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = f0_hz * (1 + 0.08 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    source = sum(np.sin(k * phase) / k**1.2 for k in range(1, 16))
    syllable = 0.55 + 0.45 * np.cos(2 * np.pi * 4.5 * t) ** 2
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.03)
    noise = 0.02 * rng.standard_normal(n)
    x = 0.25 * source * syllable * fade + noise * fade
    return x.astype(np.float32)


def conversation(
    durations: list[float], gap_s: float = 0.8, lead_s: float = 0.5, rate: int = RATE, seed: int = 0
) -> np.ndarray:
    """Utterances of the given lengths separated by `gap_s` of near silence."""
    rng = np.random.default_rng(seed)
    parts = [quiet(lead_s, rng, rate)]
    for i, seconds in enumerate(durations):
        parts.append(voiced(seconds, f0_hz=120.0 + 25 * (i % 4), seed=seed + i, rate=rate))
        parts.append(quiet(gap_s, rng, rate))
    return np.concatenate(parts)


def quiet(seconds: float, rng: np.random.Generator, rate: int = RATE) -> np.ndarray:
    """Room tone: very low noise, never digital zeros (webrtcvad adapts to the floor)."""
    return (0.001 * rng.standard_normal(int(seconds * rate))).astype(np.float32)


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def espeak(text: str, voice: str = "en-us", pitch: int = 50, speed: int = 160) -> np.ndarray:
    """Real synthetic speech from espeak-ng (installed by bin/setup), float32 at 16 kHz."""
    import io
    import subprocess
    import wave

    import soxr

    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", text],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    # espeak-ng's streaming header claims a bogus length: the stdlib reader copes.
    with wave.open(io.BytesIO(wav)) as reader:
        rate = reader.getframerate()
        frames = reader.readframes(reader.getnframes())
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return soxr.resample(samples, rate, RATE).astype(np.float32)


SENTENCES = (
    ("I cannot believe you did that again!", 70, 190),
    ("Well, I suppose we could try tomorrow.", 35, 130),
    ("That is the best news I have heard all week.", 80, 175),
)


def spoken_conversation(
    gap_s: float = 0.8, lead_s: float = 0.5, seed: int = 0, room_tone: bool = True
) -> np.ndarray:
    """Three espeak-ng sentences with different prosody, separated by pauses.

    Room tone runs under everything, as in a real recording: espeak-ng pads with
    digital zeros, and webrtcvad reads a jump from zeros to noise as speech.
    """
    rng = np.random.default_rng(seed)
    parts = [np.zeros(int(lead_s * RATE), dtype=np.float32)]
    for text, pitch, speed in SENTENCES:
        parts += [0.8 * espeak(text, pitch=pitch, speed=speed), np.zeros(int(gap_s * RATE))]
    speech = np.concatenate(parts)
    if room_tone:
        speech = speech + quiet(len(speech) / RATE, rng)[: len(speech)]
    return speech.astype(np.float32)
