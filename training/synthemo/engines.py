"""The TTS engines as renderers: text + prosody -> float audio at the engine's own rate.

Each engine applies the parts of `Prosody` it controls natively (measured with
`pitch.py`, see the notes at each engine) and hands the rest back as
`Rendered.residual_f0_ratio`, which `effects.py` applies with sox `pitch`. Intensity
and voice quality are never engine-native: they are applied uniformly by sox and a
level stage afterwards, so every engine colours an emotion the same way.
"""

from __future__ import annotations

import io
import logging
import math
import shutil
import subprocess
import wave
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import ClassVar
from xml.sax.saxutils import escape

import numpy as np

from streamser import labels
from training.synthemo.errors import EngineMissingError, SynthesisError
from training.synthemo.prosody import Prosody

log = logging.getLogger(__name__)

SUBPROCESS_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Voice:
    """One speaker of a synthetic corpus.

    Attributes:
        engine: Engine name (`espeak-ng`, `flite`, `festival`, `pico`).
        name: The engine's own voice id (`en-us+f3`, `slt`, `kal_diphone`).
        language: ISO 639-1 code the voice speaks.
        gender: `streamser.labels.MALE` or `FEMALE`.
        speaker: Corpus-unique speaker id, safe as a file name (`espeak-en-us-f3`).
        f0_mean_hz: Neutral target F0 mean for engines that take one (flite,
            festival diphones); 0 when the engine has no such control.
        f0_std_hz: Neutral target F0 standard deviation, likewise.
    """

    engine: str
    name: str
    language: str
    gender: str
    speaker: str
    f0_mean_hz: float = 0.0
    f0_std_hz: float = 0.0


@dataclass(frozen=True)
class RenderRequest:
    """One utterance to synthesise."""

    voice: Voice
    text: str
    prosody: Prosody


@dataclass(frozen=True)
class Rendered:
    """An engine's output before effects.

    Attributes:
        samples: Mono float32 in [-1, 1].
        sample_rate_hz: The engine's output rate.
        residual_f0_ratio: F0 change the engine could not apply itself.
    """

    samples: np.ndarray
    sample_rate_hz: int
    residual_f0_ratio: float


def read_wav_bytes(data: bytes, what: str) -> tuple[np.ndarray, int]:
    """16-bit PCM WAV bytes -> (float32 mono, rate).

    espeak-ng on stdout writes a header whose lengths are bogus, so the data chunk
    is taken to the end of the bytes instead of trusting its size field.
    """
    try:
        with wave.open(io.BytesIO(data)) as reader:
            rate = reader.getframerate()
            channels = reader.getnchannels()
            width = reader.getsampwidth()
    except (wave.Error, EOFError) as error:
        raise SynthesisError(f"{what}: engine output is not a WAV file ({error})") from error
    if width != 2:
        raise SynthesisError(f"{what}: expected 16-bit samples, got {8 * width}-bit")
    start = data.find(b"data")
    if start < 0:
        raise SynthesisError(f"{what}: engine output has no data chunk")
    payload = data[start + 8 :]
    samples = np.frombuffer(payload[: len(payload) // (2 * channels) * 2 * channels], "<i2")
    samples = samples.reshape(-1, channels).mean(axis=1)
    return (samples / 32768.0).astype(np.float32), rate


def _run(command: Sequence[str], what: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            command, input=stdin, capture_output=True, timeout=SUBPROCESS_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise SynthesisError(f"{what}: {command[0]} timed out") from error
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise SynthesisError(f"{what}: {command[0]} failed: {message[-1] if message else ''}")
    return done.stdout


class Engine(ABC):
    """A TTS program wrapped as a renderer; one engine makes one corpus."""

    name: str
    corpus: str
    binary: str
    debian_package: str
    languages: tuple[str, ...] = ("en",)

    def check(self) -> None:
        """Raises `EngineMissingError` naming the Debian package when the engine is absent."""
        if shutil.which(self.binary) is None:
            raise EngineMissingError(
                f"{self.binary} is not installed (needed for the {self.name} corpus): "
                f"apt-get install {self.debian_package}"
            )

    @abstractmethod
    def voices(self, language: str) -> tuple[Voice, ...]:
        """The speakers for `language`, alternating male and female."""

    @abstractmethod
    def render(self, requests: Sequence[RenderRequest], workdir: Path) -> list[Rendered]:
        """Synthesise in order; `workdir` is a private scratch directory."""


def _espeak_voice(name: str, language: str, gender: str) -> Voice:
    slug = name.replace("+", "-")
    return Voice("espeak-ng", name, language, gender, f"espeak-{slug}")


_ESPEAK_VOICES = {
    # Variants on "en-gb" are ignored by espeak-ng 1.51, so British voices use "en".
    "en": (
        ("en-us", labels.MALE),
        ("en-us+f3", labels.FEMALE),
        ("en+m3", labels.MALE),
        ("en+f4", labels.FEMALE),
        ("en-gb-scotland", labels.MALE),
        ("en-gb-x-rp+f2", labels.FEMALE),
        ("en-us+m7", labels.MALE),
        ("en-029+f5", labels.FEMALE),
        # More variants: a model trained on SynthEmo generalises across speakers only
        # if it has met many of them.
        ("en-us+m1", labels.MALE),
        ("en+m2", labels.MALE),
        ("en-us+m4", labels.MALE),
        ("en+m6", labels.MALE),
        ("en-us+f1", labels.FEMALE),
        ("en+f2", labels.FEMALE),
        ("en-us+linda", labels.FEMALE),
        ("en+annie", labels.FEMALE),
        ("en-us+steph", labels.FEMALE),
    ),
    "de": (
        ("de", labels.MALE),
        ("de+f2", labels.FEMALE),
        ("de+m7", labels.MALE),
        ("de+f5", labels.FEMALE),
    ),
    "es": (
        ("es", labels.MALE),
        ("es+f3", labels.FEMALE),
        ("es-419+m3", labels.MALE),
        ("es-419+f2", labels.FEMALE),
    ),
}

# MBROLA diphone voices, used only when `mbrola` and the voice's data are installed
# (Debian contrib/non-free). `mb-us3` lacks diphones and is left out.
_MBROLA_VOICES = {
    "en": (("mb-us2", labels.MALE), ("mb-us1", labels.FEMALE), ("mb-en1", labels.MALE)),
    "de": (("mb-de2", labels.MALE), ("mb-de1", labels.FEMALE)),
    "es": (("mb-es4", labels.MALE), ("mb-es3", labels.FEMALE)),
}


@cache
def _mbrola_works(name: str) -> bool:
    """Whether espeak-ng can speak through this MBROLA voice here (it fails without data)."""
    if shutil.which("mbrola") is None:
        return False
    done = subprocess.run(
        ["espeak-ng", "-v", name, "--stdout", "test"], capture_output=True, timeout=30, check=False
    )
    return done.returncode == 0 and len(done.stdout) > 1000


class EspeakEngine(Engine):
    """espeak-ng: F0 level and range through SSML `<prosody>`, rate through `-s`.

    Measured (pitch.py, 6 voices): SSML `pitch="P%"` multiplies the median F0 by
    about exp(0.0049 P) (+100 % -> x1.67, -50 % -> x0.81), so the percentage is
    computed from the wanted ratio; `range="+100%"` doubles the F0 spread
    (1.7 -> 3.1 semitones); `-s` words per minute scales duration inversely
    (175 -> 120 wpm: x1.46 duration). `-a` is left alone because the level stage
    sets intensity for every engine alike.
    """

    name = "espeak-ng"
    corpus = "synthemo-espeak"
    binary = "espeak-ng"
    debian_package = "espeak-ng"
    languages = ("en", "de", "es")

    PITCH_LOG_PER_PERCENT = 0.0049
    DEFAULT_WPM = 175

    def voices(self, language: str) -> tuple[Voice, ...]:
        voices = [_espeak_voice(n, language, g) for n, g in _ESPEAK_VOICES.get(language, ())]
        voices += [
            _espeak_voice(n, language, g)
            for n, g in _MBROLA_VOICES.get(language, ())
            if _mbrola_works(n)
        ]
        return tuple(voices)

    def command(self, request: RenderRequest) -> list[str]:
        p = request.prosody
        pitch_pct = float(np.clip(math.log(p.f0_ratio) / self.PITCH_LOG_PER_PERCENT, -90, 150))
        range_pct = float(np.clip((p.range_ratio - 1.0) * 100.0, -95, 200))
        wpm = round(float(np.clip(self.DEFAULT_WPM * p.rate_ratio, 80, 450)))
        ssml = (
            f'<speak><prosody pitch="{pitch_pct:+.1f}%" range="{range_pct:+.1f}%">'
            f"{escape(request.text)}</prosody></speak>"
        )
        return ["espeak-ng", "-v", request.voice.name, "-s", str(wpm), "-m", "--stdout", ssml]

    def render(self, requests: Sequence[RenderRequest], workdir: Path) -> list[Rendered]:
        out = []
        for request in requests:
            what = f"espeak-ng {request.voice.name}"
            samples, rate = read_wav_bytes(_run(self.command(request), what), what)
            out.append(Rendered(samples, rate, 1.0))
        return out


class FliteEngine(Engine):
    """flite: F0 mean/std via `int_f0_target_*`, rate via `duration_stretch`.

    Measured: awb, slt and kal16 follow `int_f0_target_mean` (Hz) and
    `int_f0_target_stddev` (Hz); rms ignores both (its F0 comes from its own
    model), so its F0 level goes to sox and its range is left unchanged. The neutral
    targets below reproduce each voice's default median F0 and spread.
    """

    name = "flite"
    corpus = "synthemo-flite"
    binary = "flite"
    debian_package = "flite"

    VOICES = (
        Voice("flite", "awb", "en", labels.MALE, "flite-awb", 130.0, 25.0),
        Voice("flite", "slt", "en", labels.FEMALE, "flite-slt", 170.0, 25.0),
        Voice("flite", "rms", "en", labels.MALE, "flite-rms"),
        Voice("flite", "kal16", "en", labels.MALE, "flite-kal16", 95.0, 11.0),
    )

    def voices(self, language: str) -> tuple[Voice, ...]:
        return self.VOICES if language == "en" else ()

    def render(self, requests: Sequence[RenderRequest], workdir: Path) -> list[Rendered]:
        out = []
        target = workdir / "flite.wav"
        for request in requests:
            voice, p = request.voice, request.prosody
            command = [
                "flite",
                "-voice",
                voice.name,
                "--setf",
                f"duration_stretch={1.0 / p.rate_ratio:.4f}",
            ]
            residual = p.f0_ratio
            if voice.f0_mean_hz:
                command += [
                    "--setf",
                    f"int_f0_target_mean={voice.f0_mean_hz * p.f0_ratio:.2f}",
                    "--setf",
                    f"int_f0_target_stddev={voice.f0_std_hz * p.f0_ratio * p.range_ratio:.2f}",
                ]
                residual = 1.0
            command += ["-t", request.text, "-o", str(target)]
            what = f"flite {voice.name}"
            _run(command, what)
            samples, rate = read_wav_bytes(target.read_bytes(), what)
            out.append(Rendered(samples, rate, residual))
        return out


class FestivalEngine(Engine):
    """festival: one `festival -b` script per batch of utterances.

    text2wave would start festival once per file (0.8 s measured); a batch script
    pays the start-up (about 0.2 s) once per chunk of jobs and sets the same
    parameters text2wave's `-eval` would.

    Measured: the diphone voices (kal, ked) follow `int_lr_params` target_f0_mean and
    target_f0_std and `Duration_Stretch` (their voice files set 1.1, kept as the
    neutral); the HTS voice ignores all three, but its hts_engine takes `-r` (speech
    rate), so only its F0 level goes to sox (`-fm` is not honoured by this build).
    """

    name = "festival"
    corpus = "synthemo-festival"
    binary = "festival"
    debian_package = "festival"

    VOICES = (
        Voice("festival", "kal_diphone", "en", labels.MALE, "festival-kal", 105.0, 14.0),
        Voice("festival", "cmu_us_slt_arctic_hts", "en", labels.FEMALE, "festival-slt-hts"),
        Voice("festival", "ked_diphone", "en", labels.MALE, "festival-ked", 105.0, 15.0),
    )
    PACKAGES: ClassVar[dict[str, str]] = {
        "kal_diphone": "festvox-kallpc16k",
        "ked_diphone": "festvox-kdlpc16k",
        "cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
    }
    DIPHONE_STRETCH = 1.1

    def check(self) -> None:
        super().check()
        missing = [name for name in self.PACKAGES if name not in _festival_voices()]
        if missing:
            raise EngineMissingError(
                f"festival voice(s) {', '.join(missing)} not installed: apt-get install "
                + " ".join(self.PACKAGES[name] for name in missing)
            )

    def voices(self, language: str) -> tuple[Voice, ...]:
        return self.VOICES if language == "en" else ()

    def script(self, requests: Sequence[RenderRequest], paths: Sequence[Path]) -> str:
        lines = []
        for request, path in zip(requests, paths, strict=True):
            voice, p = request.voice, request.prosody
            lines.append(f"(voice_{voice.name})")
            if voice.f0_mean_hz:
                lines.append(
                    f"(set! int_lr_params '((target_f0_mean {voice.f0_mean_hz * p.f0_ratio:.2f})"
                    f" (target_f0_std {voice.f0_std_hz * p.f0_ratio * p.range_ratio:.2f})"
                    " (model_f0_mean 170) (model_f0_std 34)))"
                )
                lines.append(
                    f"(Parameter.set 'Duration_Stretch {self.DIPHONE_STRETCH / p.rate_ratio:.4f})"
                )
            else:
                lines.append(
                    f"(set! hts_engine_params (append {voice.name}::hts_engine_params"
                    f' \'(("-r" {p.rate_ratio:.4f}))))'
                )
            text = request.text.replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{text}")) "{path}" \'riff)')
        return "\n".join(lines) + "\n"

    def render(self, requests: Sequence[RenderRequest], workdir: Path) -> list[Rendered]:
        paths = [workdir / f"festival{i}.wav" for i in range(len(requests))]
        for path in paths:
            path.unlink(missing_ok=True)
        script = workdir / "batch.scm"
        script.write_text(self.script(requests, paths), encoding="utf-8")
        _run(["festival", "-b", str(script)], "festival")
        out = []
        for request, path in zip(requests, paths, strict=True):
            what = f"festival {request.voice.name}"
            if not path.exists():
                raise SynthesisError(f"{what}: no audio for {request.text!r}")
            samples, rate = read_wav_bytes(path.read_bytes(), what)
            residual = 1.0 if request.voice.f0_mean_hz else request.prosody.f0_ratio
            out.append(Rendered(samples, rate, residual))
        return out


@cache
def _festival_voices() -> frozenset[str]:
    done = subprocess.run(
        ["festival", "-b", "(print (voice.list))"], capture_output=True, timeout=60, check=False
    )
    return frozenset(done.stdout.decode(errors="replace").strip("()\n ").split())


class PicoEngine(Engine):
    """SVOX Pico (`pico2wave`): F0 level through `<pitch level>`, rate through `<speed level>`.

    A fourth synthesis technique (HMM-based, unlike the others' formant, diphone and
    clustergen voices) that no default corpus uses, so it can play the unseen engine
    in OOD and cross-corpus development sets. Debian ships it in non-free.

    Measured (pitch.py, both voices): `<pitch level="L">` multiplies the median F0
    by L / 100 from 50 to 200; the F0 spread does not follow it and there is no
    range control, so range is left unchanged (as for flite's rms). `<speed level>`
    scales duration inversely.
    """

    name = "pico"
    corpus = "synthemo-pico"
    binary = "pico2wave"
    debian_package = "libttspico-utils"
    languages = ("en", "de", "es")

    def check(self) -> None:
        if shutil.which(self.binary) is None:
            raise EngineMissingError(
                "pico2wave is not installed (needed for the pico corpus): apt-get install "
                "libttspico-utils, from Debian's non-free component (bin/setup test adds it)"
            )

    VOICES: ClassVar[dict[str, tuple[Voice, ...]]] = {
        "en": (
            Voice("pico", "en-US", "en", labels.FEMALE, "pico-en-us"),
            Voice("pico", "en-GB", "en", labels.FEMALE, "pico-en-gb"),
        ),
        "de": (Voice("pico", "de-DE", "de", labels.FEMALE, "pico-de-de"),),
        "es": (Voice("pico", "es-ES", "es", labels.FEMALE, "pico-es-es"),),
    }

    def voices(self, language: str) -> tuple[Voice, ...]:
        return self.VOICES.get(language, ())

    def markup(self, request: RenderRequest) -> str:
        p = request.prosody
        pitch = round(float(np.clip(100.0 * p.f0_ratio, 50, 200)))
        speed = round(float(np.clip(100.0 * p.rate_ratio, 20, 500)))
        return (
            f"<pitch level='{pitch}'><speed level='{speed}'>{escape(request.text)}</speed></pitch>"
        )

    def render(self, requests: Sequence[RenderRequest], workdir: Path) -> list[Rendered]:
        out = []
        # pico2wave refuses to write anything but a *.wav path.
        target = workdir / "pico.wav"
        for request in requests:
            what = f"pico2wave {request.voice.name}"
            command = ["pico2wave", "-l", request.voice.name, "-w", str(target)]
            _run([*command, self.markup(request)], what)
            samples, rate = read_wav_bytes(target.read_bytes(), what)
            f0_ratio = request.prosody.f0_ratio
            out.append(Rendered(samples, rate, f0_ratio / float(np.clip(f0_ratio, 0.5, 2.0))))
        return out


ENGINES: dict[str, Engine] = {
    engine.name: engine
    for engine in (EspeakEngine(), FliteEngine(), FestivalEngine(), PicoEngine())
}
"""Engine name -> renderer."""

DEFAULT_ENGINES = ("espeak-ng", "flite", "festival")
"""The engines a corpus uses unless told otherwise: the ones in Debian main."""
