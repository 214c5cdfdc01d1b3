"""Short pieces of music for the non-speech OOD set: seeded MIDI rendered by fluidsynth.

Instruments sustain voiced, harmonic sound at speech level, which is what gets
music past a speech VAD and makes it a fair test of the OOD gate. Each piece is a
random chord progression with a melody on one General MIDI instrument, with drums
on some, written as a standard MIDI file and rendered offline with a small GM
soundfont (Debian `fluidsynth` and `timgm6mb-soundfont`).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from streamser.audio import load_mono
from streamser.constants import SAMPLE_RATE_HZ

SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
TICKS_PER_BEAT = 480
INSTRUMENTS = {
    "piano": 0,
    "vibraphone": 11,
    "organ": 19,
    "nylon guitar": 24,
    "bass": 32,
    "violin": 40,
    "strings": 48,
    "trumpet": 56,
    "alto sax": 65,
    "flute": 73,
}
"""General MIDI program numbers of the instruments pieces are played on."""
DRUM_CHANNEL = 9
MAJOR, MINOR = (0, 4, 7), (0, 3, 7)


class MusicUnavailableError(RuntimeError):
    """fluidsynth or the soundfont is not installed."""


def check() -> None:
    """Raises `MusicUnavailableError` naming the Debian packages when rendering cannot run."""
    if shutil.which("fluidsynth") is None or not SOUNDFONT.exists():
        raise MusicUnavailableError(
            "music needs fluidsynth and a GM soundfont: "
            "apt-get install fluidsynth timgm6mb-soundfont"
        )


def render_pieces(count: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """`count` pieces of 1.5-3.5 s as (instrument, int16 mono at the canonical rate)."""
    check()
    rng = np.random.default_rng([seed, 7071])
    pieces = []
    with tempfile.TemporaryDirectory(prefix="streamser-music-") as scratch:
        for index in range(count):
            instrument = list(INSTRUMENTS)[index % len(INSTRUMENTS)]
            midi = Path(scratch) / f"{index}.mid"
            wav = Path(scratch) / f"{index}.wav"
            midi.write_bytes(_random_piece(rng, INSTRUMENTS[instrument], drums=index % 3 == 0))
            _fluidsynth(midi, wav)
            pieces.append((instrument, _trim(load_mono(wav))))
    return pieces


def _fluidsynth(midi: Path, wav: Path) -> None:
    command = [
        "fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(SAMPLE_RATE_HZ),
        "-F", str(wav), "-T", "wav", str(SOUNDFONT), str(midi),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, timeout=60, check=False)
    if done.returncode != 0 or not wav.exists():
        message = done.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"fluidsynth failed on {midi.name}: {message}")


def _trim(x: np.ndarray) -> np.ndarray:
    """Drop the render's silent tail (reverb decays to digital zero)."""
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > 32)
    return x[: loud[-1] + 1] if len(loud) else x


def _random_piece(rng: np.random.Generator, program: int, drums: bool) -> bytes:
    """A format-0 standard MIDI file: chords and a melody, optionally drums."""
    bpm = float(rng.uniform(80, 160))
    beats = int(np.ceil(rng.uniform(1.5, 3.5) * bpm / 60))
    tonic = 48 + int(rng.integers(0, 12))
    events: list[tuple[int, bytes]] = [(0, bytes([0xC0, program]))]
    for beat in range(0, beats, 2):
        degree = int(rng.choice([0, 5, 7, 9]))
        triad = MINOR if degree == 9 else MAJOR
        start, end = beat * TICKS_PER_BEAT, min(beat + 2, beats) * TICKS_PER_BEAT
        for step in triad:
            events += _note(0, tonic + degree + step, 70, start, end)
    scale = (0, 2, 4, 5, 7, 9, 11, 12)
    tick = 0
    while tick < beats * TICKS_PER_BEAT:
        length = int(rng.choice([1, 2, 2, 4])) * TICKS_PER_BEAT // 2
        pitch = tonic + 12 + scale[int(rng.integers(0, len(scale)))]
        events += _note(0, pitch, 95, tick, tick + length)
        tick += length
    if drums:
        for beat in range(beats * 2):
            drum = 36 if beat % 4 == 0 else 38 if beat % 4 == 2 else 42
            start = beat * TICKS_PER_BEAT // 2
            events += _note(DRUM_CHANNEL, drum, 90, start, start + TICKS_PER_BEAT // 4)
    tempo = round(60_000_000 / bpm).to_bytes(3, "big")
    track = bytearray(b"\x00\xff\x51\x03" + tempo)
    now = 0
    for tick, message in sorted(events, key=lambda e: (e[0], e[1][0] & 0xF0 != 0x80)):
        track += _variable_length(tick - now) + message
        now = tick
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big")
    header += TICKS_PER_BEAT.to_bytes(2, "big")
    return header + b"MTrk" + len(track).to_bytes(4, "big") + bytes(track)


def _note(channel: int, pitch: int, velocity: int, start: int, end: int) -> list[tuple[int, bytes]]:
    return [
        (start, bytes([0x90 | channel, pitch, velocity])),
        (end, bytes([0x80 | channel, pitch, 0])),
    ]


def _variable_length(value: int) -> bytes:
    """MIDI's variable-length quantity: 7 bits per byte, high bit set on all but the last."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))
