"""What to generate: options and the seeded plan of jobs, before any audio exists.

The plan is a pure function of the options, so the same seed and arguments always
name the same files with the same prosody, whatever the number of workers and
whichever files already exist. Every random draw is keyed by the job's identity
(engine, language, item, emotion), never by its position in a run, which makes a
`--count 100` corpus a prefix of the `--count 200` corpus with the same seed.

The design is EmoDB's: an item is a (speaker, sentence) pair spoken in every
requested emotion and recorded under every requested condition, so classes differ
only in prosody and a rendering can be compared with its own neutral.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np

from training.synthemo.conditions import Condition
from training.synthemo.engines import DEFAULT_ENGINES, ENGINES, Voice
from training.synthemo.errors import SynthOptionsError
from training.synthemo.prosody import EMOTIONS, JitterOptions, Prosody, sample_prosody
from training.synthemo.texts import SENTENCES, Sentence

DEFAULT_PER_CLASS = 20
MANIFEST_COLUMNS = (
    "path",
    "emotion",
    "speaker",
    "gender",
    "corpus",
    "engine",
    "text_id",
    "language",
    "condition",
)


def _accepted(kind: str, values: tuple[str, ...], accepted: tuple[str, ...]) -> None:
    """Raises `SynthOptionsError` for an empty list, an unknown value or a repeat."""
    if not values:
        raise SynthOptionsError(f"no {kind} given (accepted: {', '.join(accepted)})")
    for value in values:
        if value not in accepted:
            raise SynthOptionsError(
                f"unknown {kind[:-1]} {value!r} (accepted: {', '.join(accepted)})"
            )
    if len(set(values)) != len(values):
        raise SynthOptionsError(f"{kind} listed twice: {', '.join(values)}")


@dataclass(frozen=True)
class SynthOptions:
    """A corpus request; two equal option objects produce byte-identical corpora.

    Attributes:
        engines: Engine names; each makes its own corpus.
        emotions: Emotions to render (see `prosody.RULES`).
        languages: Text languages; an engine speaks those it has voices for.
        conditions: Recording conditions; every utterance is written once per condition.
        per_class: Utterances per emotion, per condition, per (engine, language).
            Exclusive with `count`; the default when neither is given.
        count: Total number of files over everything, split evenly.
        seed: Seed of every random choice.
        jitter: Per-utterance spread of the prosody rules.
    """

    engines: tuple[str, ...] = DEFAULT_ENGINES
    emotions: tuple[str, ...] = EMOTIONS
    languages: tuple[str, ...] = ("en",)
    conditions: tuple[Condition, ...] = (Condition(),)
    per_class: int | None = None
    count: int | None = None
    seed: int = 0
    jitter: JitterOptions = field(default_factory=JitterOptions)

    def __post_init__(self) -> None:
        _accepted("engines", self.engines, tuple(ENGINES))
        _accepted("emotions", self.emotions, EMOTIONS)
        _accepted("languages", self.languages, tuple(SENTENCES))
        names = tuple(c.name for c in self.conditions)
        if not names:
            raise SynthOptionsError("no conditions given (for instance: clean)")
        if len(set(names)) != len(names):
            raise SynthOptionsError(f"conditions listed twice: {', '.join(names)}")
        if self.per_class is not None and self.count is not None:
            raise SynthOptionsError("give --per-class or --count, not both")
        if self.per_class is None and self.count is None:
            object.__setattr__(self, "per_class", DEFAULT_PER_CLASS)
        for name in ("per_class", "count"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SynthOptionsError(
                    f"--{name.replace('_', '-')} must be at least 1, got {value}"
                )
        if self.seed < 0:
            raise SynthOptionsError(f"--seed must not be negative, got {self.seed}")
        spoken = {lang for e in self.engines for lang in ENGINES[e].languages}
        unspoken = [lang for lang in self.languages if lang not in spoken]
        if unspoken:
            raise SynthOptionsError(
                f"no selected engine speaks {', '.join(unspoken)} "
                f"({', '.join(self.engines)}: {', '.join(sorted(spoken))}; "
                "espeak-ng speaks en, de, es)"
            )

    def to_json(self) -> dict[str, object]:
        """The settings a corpus directory records, to refuse resuming with other ones."""
        return {
            "engines": list(self.engines),
            "emotions": list(self.emotions),
            "languages": list(self.languages),
            "conditions": [c.name for c in self.conditions],
            "per_class": self.per_class,
            "count": self.count,
            "seed": self.seed,
            "jitter": vars(self.jitter),
        }


@dataclass(frozen=True)
class Output:
    """One file of a job: the job's audio under one condition.

    Attributes:
        condition: The recording condition.
        path: Path relative to the corpus root (the manifest's directory).
        seed: Seed of the condition's random draws (noise, room).
    """

    condition: Condition
    path: str
    seed: tuple[int, ...]


@dataclass(frozen=True)
class Job:
    """One synthesis: an item spoken in one emotion, written under one or more conditions."""

    engine: str
    voice: Voice
    sentence: Sentence
    emotion: str
    item: int
    prosody: Prosody
    outputs: tuple[Output, ...]

    @property
    def corpus(self) -> str:
        return ENGINES[self.engine].corpus

    def manifest_rows(self) -> list[dict[str, str]]:
        return [
            {
                "path": output.path,
                "emotion": self.emotion,
                "speaker": self.voice.speaker,
                "gender": self.voice.gender,
                "corpus": self.corpus,
                "engine": self.engine,
                "text_id": self.sentence.text_id,
                "language": self.sentence.language,
                "condition": output.condition.name,
            }
            for output in self.outputs
        ]


def stable_key(text: str) -> int:
    """A name as a seed component that is the same in every process and Python run."""
    return zlib.crc32(text.encode("utf-8"))


@dataclass(frozen=True)
class _Stream:
    engine: str
    language: str
    voices: tuple[Voice, ...]
    sentences: tuple[Sentence, ...]
    text_order: np.ndarray

    def item(self, index: int) -> tuple[Voice, Sentence]:
        """Speakers in turn; each speaker walks the shuffled sentences from its own offset."""
        speaker = index % len(self.voices)
        round_ = index // len(self.voices)
        offset = speaker * max(1, len(self.sentences) // len(self.voices))
        text = self.text_order[(round_ + offset) % len(self.sentences)]
        return self.voices[speaker], self.sentences[int(text)]


def _streams(options: SynthOptions) -> list[_Stream]:
    streams = []
    for engine in options.engines:
        for language in options.languages:
            voices = ENGINES[engine].voices(language)
            if not voices:
                continue
            sentences = SENTENCES[language]
            rng = np.random.default_rng([options.seed, stable_key(engine), stable_key(language)])
            streams.append(
                _Stream(engine, language, voices, sentences, rng.permutation(len(sentences)))
            )
    return streams


def make_plan(options: SynthOptions) -> list[Job]:
    """Every job of the corpus, in manifest order."""
    streams = _streams(options)
    per_item = len(options.emotions) * len(options.conditions)
    if options.count is not None:
        items = math.ceil(options.count / per_item)
        budget = options.count
    else:
        assert options.per_class is not None
        items = options.per_class * len(streams)
        budget = items * per_item
    jobs: list[Job] = []
    for global_item in range(items):
        stream = streams[global_item % len(streams)]
        item = global_item // len(streams)
        voice, sentence = stream.item(item)
        for emotion in options.emotions:
            if budget <= 0:
                return jobs
            key = [options.seed, stable_key(stream.engine), stable_key(stream.language), item]
            rng = np.random.default_rng([*key, stable_key(emotion)])
            prosody = sample_prosody(emotion, rng, options.jitter)
            outputs = []
            for condition in options.conditions[:budget]:
                path = (
                    f"{ENGINES[stream.engine].corpus}/{voice.speaker}/{emotion}/"
                    f"{sentence.text_id}_{item:05d}_{condition.slug}.wav"
                )
                seed = (*key, stable_key(emotion), stable_key(condition.name))
                outputs.append(Output(condition, path, seed))
            budget -= len(outputs)
            jobs.append(Job(stream.engine, voice, sentence, emotion, item, prosody, tuple(outputs)))
    return jobs
