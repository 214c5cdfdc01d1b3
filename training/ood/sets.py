"""Out-of-distribution evaluation sets made on this machine: SynthEmo renderings and numpy audio.

Every set is a pure function of its options (seeded), so two runs of
`streamser evaluate --ood` score the same audio. Speech sets are rendered by
SynthEmo into a cache directory (resumable, reused on the next run); non-speech is
generated in memory (numpy), rendered by fluidsynth (music) or read from the
freedesktop sound theme. Only what `bin/setup test` installs is used, so CI can
build every set.

Shift kinds, reported apart:

- semantic: the model's labels do not apply (an emotion it does not know, sound
  that is not speech). An OOD detector should reject these.
- covariate: the labels still apply but the input differs from the training data
  (another language, a telephone channel, a synthesis engine the model never
  heard). Rejecting them trades coverage for safety; accuracy on them shows
  whether that is wanted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from streamser.audio.formats import float_to_int16
from streamser.constants import SAMPLE_RATE_HZ
from streamser.labels import BOREDOM, DISGUST, FEAR, FOUR_CLASS, SURPRISE
from training.corpora import Utterance, load_manifest

if TYPE_CHECKING:
    from streamser.segmenter import SegmenterOptions

Shift = Literal["semantic", "covariate"]
UNSEEN_EMOTIONS = (FEAR, DISGUST, SURPRISE, BOREDOM)
ID_ENGINES = ("espeak-ng", "flite", "festival")
UNSEEN_ENGINE = "pico"
SET_NAMES = ("unseen-emotions", "non-speech", "unseen-engine", "unseen-language", "telephone")
SYSTEM_SOUNDS = Path("/usr/share/sounds/freedesktop/stereo")
MUSIC = "music"
SYSTEM_SOUND = "desktop sound"


@dataclass(frozen=True)
class OodSetOptions:
    """How big the generated sets are and what they are made from.

    Attributes:
        per_class: SynthEmo items per emotion and (engine, language); a set of
            four emotions from three engines has 12 x per_class utterances.
        non_speech_count: numpy-made clips in the non-speech set.
        music_count: fluidsynth pieces in the non-speech set (besides these, it
            holds every freedesktop theme sound that is not a spoken word).
        engines: Engines of the in-distribution corpus (unseen-emotions, telephone).
        known_emotions: The model's classes (unseen-language and telephone speak these).
        seed: Seed of every random choice. SynthEmo's seed 0 is the bundled
            model's corpus seed, so the default 1 draws other sentence orders.
        through_vad: Non-speech as the runtime would see it: each clip, framed by
            silence, goes through the runtime's segmenter (default VAD settings)
            and the set is the spans it cuts; clips it never triggers on are left
            out, because the gate never sees them.
    """

    per_class: int = 8
    non_speech_count: int = 96
    music_count: int = 40
    engines: tuple[str, ...] = ID_ENGINES
    known_emotions: tuple[str, ...] = FOUR_CLASS
    seed: int = 1
    through_vad: bool = True

    def __post_init__(self) -> None:
        if self.per_class < 1 or self.non_speech_count < 1:
            raise ValueError("OOD sets need at least one utterance per class and clip")


@dataclass(frozen=True)
class OodSet:
    """One OOD evaluation set.

    Attributes:
        name: Its name in tables and JSON.
        shift: "semantic" or "covariate".
        description: What it is, for reports.
        audio: int16 utterances at the canonical rate.
        emotions: Per utterance, its emotion where the model's labels apply
            (covariate sets), else None.
        kinds: Per utterance, what sound it is ("music", "syllable-rate noise", ...),
            so reports can say which sounds get through; empty for sets of one kind.
    """

    name: str
    shift: Shift
    description: str
    audio: tuple[np.ndarray, ...]
    emotions: tuple[str | None, ...]
    kinds: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.audio) != len(self.emotions) or not self.audio:
            raise ValueError(f"OOD set {self.name!r} is empty or has a label per clip mismatch")
        if self.kinds and len(self.kinds) != len(self.audio):
            raise ValueError(f"OOD set {self.name!r} has a kind per clip mismatch")


def build_set(name: str, cache: Path, options: OodSetOptions = OodSetOptions()) -> OodSet:
    """A named set (one of SET_NAMES), or a manifest CSV whose utterances are all OOD.

    Args:
        name: A name from SET_NAMES, or a path to a manifest CSV (a semantic set
            named after the file).
        cache: Directory where SynthEmo sets are rendered and kept.
        options: Sizes and seed.

    Raises:
        ValueError: An unknown name.
    """
    from training.synthemo.conditions import Condition

    if name == "unseen-emotions":
        unseen = tuple(e for e in UNSEEN_EMOTIONS if e not in options.known_emotions)
        if not unseen:
            raise ValueError(f"the model knows every emotion of {name!r}")
        return _synthemo_set(
            name, "semantic",
            f"SynthEmo {', '.join(unseen)} from the training engines "
            f"({', '.join(options.engines)}), English",
            cache, options, engines=options.engines, emotions=unseen,
            languages=("en",), labelled=False,
        )  # fmt: skip
    if name == "unseen-engine":
        # The unseen engine has fewer voices; three times the items keeps the set as
        # large as the others.
        return _synthemo_set(
            name, "covariate",
            f"SynthEmo known emotions from an engine the model never heard "
            f"({UNSEEN_ENGINE}), English",
            cache, replace(options, per_class=3 * options.per_class), engines=(UNSEEN_ENGINE,),
            emotions=options.known_emotions, languages=("en",), labelled=True,
        )  # fmt: skip
    if name == "unseen-language":
        return _synthemo_set(
            name, "covariate",
            "SynthEmo German and Spanish (espeak-ng) in the known emotions",
            cache, options, engines=("espeak-ng",), emotions=options.known_emotions,
            languages=("de", "es"), labelled=True,
        )  # fmt: skip
    if name == "telephone":
        return _synthemo_set(
            name, "covariate",
            "SynthEmo known emotions from the training engines through a telephone "
            "channel (8 kHz, 300-3400 Hz, G.711)",
            cache, options, engines=options.engines, emotions=options.known_emotions,
            languages=("en",), labelled=True, conditions=(Condition(kind="telephone"),),
        )  # fmt: skip
    if name == "non-speech":
        clips = non_speech_set(options.non_speech_count, options.music_count, options.seed)
        return vad_spans(clips) if options.through_vad else clips
    path = Path(name)
    if path.suffix == ".csv":
        return _manifest_set(path.stem, load_manifest(path), "semantic", f"manifest {path.name}")
    raise ValueError(f"unknown OOD set {name!r} (accepted: {', '.join(SET_NAMES)}, or a .csv)")


def _synthemo_set(
    name: str,
    shift: Shift,
    description: str,
    cache: Path,
    options: OodSetOptions,
    engines: Sequence[str],
    emotions: Sequence[str],
    languages: Sequence[str],
    labelled: bool,
    conditions: tuple | None = None,
) -> OodSet:
    from training.synthemo.conditions import Condition
    from training.synthemo.generate import generate
    from training.synthemo.plan import SynthOptions

    synth = SynthOptions(
        engines=tuple(engines),
        emotions=tuple(emotions),
        languages=tuple(languages),
        conditions=conditions or (Condition(),),
        per_class=options.per_class,
        seed=options.seed,
    )
    manifest = generate(synth, cache / name, workers=1).manifest
    utterances = load_manifest(manifest)
    return _manifest_set(name, utterances, shift, description, labelled)


def _manifest_set(
    name: str,
    utterances: Sequence[Utterance],
    shift: Shift,
    description: str,
    labelled: bool = False,
) -> OodSet:
    from training.data import AudioCache

    audio = AudioCache(list(utterances)).audio
    emotions = tuple(u.emotion if labelled else None for u in utterances)
    return OodSet(name, shift, description, tuple(audio), emotions)


def non_speech_set(count: int, music_count: int, seed: int) -> OodSet:
    """Synthetic sounds, music and desktop sounds: everything a VAD may mistake for speech.

    `count` numpy-made noise bursts, tones, chords, sweeps and click trains (1-3 s,
    at speech level; each kind has a loud sustained part), `music_count` short
    pieces on ten instruments (`training.ood.music`), and the freedesktop theme's
    alerts, bells and ringtones (its spoken channel names left out).
    """
    from training.ood.music import render_pieces

    synthetic = synthetic_sounds(count, seed)
    music = [audio for _, audio in render_pieces(music_count, seed)]
    system = system_sounds()
    audio = [clip for _, clip in synthetic] + music + system
    kinds = [kind for kind, _ in synthetic] + [MUSIC] * len(music) + [SYSTEM_SOUND] * len(system)
    return OodSet(
        "non-speech",
        "semantic",
        f"{len(synthetic)} numpy-made noise bursts, tones, plucked chords, sweeps, click "
        f"trains and syllable-rate modulated noise; {len(music)} fluidsynth pieces on ten "
        f"instruments; {len(system)} freedesktop alert sounds",
        tuple(audio),
        (None,) * len(audio),
        tuple(kinds),
    )


def system_sounds() -> list[np.ndarray]:
    """The freedesktop sound theme's sounds, without the spoken `audio-channel-*` ones."""
    from streamser.audio import load_mono

    paths = sorted(SYSTEM_SOUNDS.glob("*.oga"))
    if not paths:
        raise FileNotFoundError(
            f"no sounds in {SYSTEM_SOUNDS}: apt-get install sound-theme-freedesktop"
        )
    return [load_mono(path) for path in paths if not path.name.startswith("audio-channel-")]


def synthetic_sounds(count: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """(kind, int16 clip) pairs, the kinds in turn; made with numpy alone, so they are
    the same wherever they are built."""
    rng = np.random.default_rng([seed, 4242])
    makers = list(_SYNTHETIC_KINDS.items())
    sounds = []
    for index in range(count):
        seconds = float(rng.uniform(1.0, 3.0))
        n = int(seconds * SAMPLE_RATE_HZ)
        kind, make = makers[index % len(makers)]
        x = make(n, rng)
        x = _fade(x / max(float(np.abs(x).max()), 1e-9), 0.01)
        level_db = float(rng.uniform(-20.0, -6.0))  # peak level, like the speech corpora
        sounds.append((kind, float_to_int16((10 ** (level_db / 20) * x).astype(np.float32))))
    return sounds


def segment(clip: np.ndarray, options: SegmenterOptions | None = None) -> list[np.ndarray]:
    """The spans the runtime's segmenter cuts from `clip` with 0.5 s of silence either side."""
    from streamser.constants import FRAME_SAMPLES
    from streamser.segmenter import Segmenter, SegmenterOptions
    from streamser.vad import make_vad

    options = options or SegmenterOptions()
    segmenter = Segmenter(make_vad(options.vad), options)
    silence = np.zeros(SAMPLE_RATE_HZ // 2, np.int16)
    x = np.concatenate([silence, clip, silence])
    x = np.concatenate([x, np.zeros(-len(x) % FRAME_SAMPLES, np.int16)])
    spans = []
    for start in range(0, len(x), FRAME_SAMPLES):
        spans += segmenter.process(x[start : start + FRAME_SAMPLES])
    spans += segmenter.flush()
    return [x[span.start : span.end] for span in spans]


def vad_spans(clips: OodSet) -> OodSet:
    """The set as the gate meets it: the segmenter's spans of every clip it triggers on."""
    per_clip = [segment(clip) for clip in clips.audio]
    spans = tuple(span for found in per_clip for span in found)
    passed = sum(bool(found) for found in per_clip)
    kinds = ()
    if clips.kinds:
        kinds = tuple(
            kind for kind, found in zip(clips.kinds, per_clip, strict=True) for _ in found
        )
    return OodSet(
        clips.name,
        clips.shift,
        f"{clips.description}; {len(spans)} VAD spans from the {passed} of "
        f"{len(clips.audio)} clips the runtime segmenter triggered on",
        spans,
        (None,) * len(spans),
        kinds,
    )


def _time(n: int) -> np.ndarray:
    return np.arange(n) / SAMPLE_RATE_HZ


def _coloured_noise(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Noise with power ~ 1 / f**exponent (0 white, 1 pink, 2 brown)."""
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE_HZ), 20.0)
    return np.fft.irfft(spectrum / f ** (exponent / 2), n)


def _noise_burst(n: int, rng: np.random.Generator) -> np.ndarray:
    x = _coloured_noise(n, rng, float(rng.choice([0.0, 1.0, 2.0])))
    return x * _bursts(n, rng)


def _am_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink noise modulated at a syllable-like 3-7 Hz: the hardest non-speech here."""
    rate = rng.uniform(3.0, 7.0)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rate * _time(n) + rng.uniform(0, 2 * np.pi))
    return _coloured_noise(n, rng, 1.0) * envelope**2


def _tone(n: int, rng: np.random.Generator) -> np.ndarray:
    f0 = rng.uniform(100.0, 1000.0)
    t = _time(n)
    harmonics = int(rng.integers(1, 6))
    return sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, harmonics + 1))


def _chord(n: int, rng: np.random.Generator) -> np.ndarray:
    """Three plucked notes of a major or minor triad, decaying: a crude instrument."""
    root = 110.0 * 2 ** (rng.integers(0, 24) / 12)
    third = 4 if rng.random() < 0.5 else 3
    t = _time(n)
    decay = np.exp(-t * rng.uniform(1.0, 4.0))
    notes = [root * 2 ** (s / 12) for s in (0, third, 7)]
    return decay * sum(np.sin(2 * np.pi * f * h * t) / h**1.5 for f in notes for h in range(1, 5))


def _sweep(n: int, rng: np.random.Generator) -> np.ndarray:
    low, high = sorted(rng.uniform(80.0, 4000.0, 2))
    t = _time(n)
    duration = n / SAMPLE_RATE_HZ
    phase = (
        2
        * np.pi
        * low
        * duration
        / np.log(high / low)
        * (np.exp(t / duration * np.log(high / low)) - 1)
    )
    return np.sin(phase)


def _clicks(n: int, rng: np.random.Generator) -> np.ndarray:
    x = np.zeros(n)
    period = int(SAMPLE_RATE_HZ / rng.uniform(2.0, 20.0))
    click = np.exp(-np.arange(200) / 30.0) * rng.standard_normal(200)
    for start in range(int(rng.integers(0, period)), n - 200, period):
        x[start : start + 200] += click
    return x


_SYNTHETIC_KINDS = {
    "noise burst": _noise_burst,
    "tone": _tone,
    "plucked chord": _chord,
    "sweep": _sweep,
    "click train": _clicks,
    "syllable-rate noise": _am_noise,
}
"""The numpy-made kinds, in the order the set takes them in turn."""


def _bursts(n: int, rng: np.random.Generator) -> np.ndarray:
    """An on/off envelope of 2-5 bursts of 150-600 ms."""
    envelope = np.zeros(n)
    for _ in range(int(rng.integers(2, 6))):
        length = int(rng.uniform(0.15, 0.6) * SAMPLE_RATE_HZ)
        start = int(rng.integers(0, max(n - length, 1)))
        envelope[start : start + length] = 1.0
    return envelope


def _fade(x: np.ndarray, seconds: float) -> np.ndarray:
    m = min(int(seconds * SAMPLE_RATE_HZ), len(x) // 2)
    ramp = np.linspace(0.0, 1.0, m)
    x = x.copy()
    x[:m] *= ramp
    x[len(x) - m :] *= ramp[::-1]
    return x
