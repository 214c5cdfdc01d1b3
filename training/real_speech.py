"""Real, unlabelled human speech from Debian packages, for evaluation and calibration.

The emotion corpora are licensed downloads, so without them every check of the
model on *real* speech would be skipped. These sets install with apt-get
(`bin/setup train` and `bin/setup test` do it), so any machine, CI included, can
ask: does the model call real neutral speech neutral, where does the OOD gate's
threshold sit on real speech, what does an adaptation target sound like.

- asterisk-prompts: the Asterisk PBX's telephone prompts ("Please enter your
  password"), one professional speaker per language, 8 kHz 16-bit WAV. They are
  mostly neutral by design, not annotated: `emotion="neutral"` is what a calm IVR
  voice is expected to be, not a label anyone gave. `text_id` is the prompt's name
  ("vm-password", "digits/5"), shared by all languages.
- hedgewars: the game's voice packs, short acted exclamations, taunts, laughs and
  pain grunts in 15 character voices (44.1/48 kHz Ogg Vorbis). They carry
  "neutral" only because `Utterance` needs an emotion, and
  `condition="acted-game-line"` marks them; never score that label as truth.

Both loaders list files without decoding them (headers give the durations); decode
with `streamser.audio.load_mono`, which resamples to the canonical 16 kHz. Files
shorter than MIN_SECONDS (one-syllable digits and letters, grunts, an empty
Russian prompt) are skipped and the count is logged; prompts that are not
speech (beeps, chimes, monkey screams, the `silence/` folder) are left out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import soundfile

from streamser.labels import FEMALE, MALE, NEUTRAL, UNKNOWN_GENDER
from training.corpora.base import CorpusError, Utterance

logger = logging.getLogger(__name__)

ASTERISK = "asterisk-prompts"
HEDGEWARS = "hedgewars"
ASTERISK_ROOT = Path("/usr/share/asterisk/sounds")
HEDGEWARS_ROOT = Path("/usr/share/games/hedgewars/Data/Sounds/voices")
MIN_SECONDS = 0.3
"""Shorter files hold a syllable at most: too little for an utterance-level decision."""

LICENCE_URLS = {
    "CC-BY-SA-3.0": "https://creativecommons.org/licenses/by-sa/3.0/",
    "CC-BY-3.0": "https://creativecommons.org/licenses/by/3.0/",
    "GFDL-1.3": "https://www.gnu.org/licenses/fdl-1.3.html",
}


@dataclass(frozen=True)
class RealSpeechSource:
    """One Debian package of real speech and what a model card must say about it.

    Attributes:
        name: "asterisk-en" ... (also the `Utterance.speaker`), or "hedgewars".
        corpus: The `Utterance.corpus` value.
        package: The Debian package that installs the files.
        folder: Where its files are, below the loader's default root ("" for the root).
        language: ISO 639-1 code, or None when it differs per voice pack.
        gender: The speaker's, from the Asterisk voice folder name (`it_IT_m_Carlo`).
        licence: Debian/SPDX licence identifier, from the package's copyright file.
        attribution: The credit the licence asks for, from the copyright file.
    """

    name: str
    corpus: str
    package: str
    folder: str
    language: str | None
    gender: str
    licence: str
    attribution: str

    @property
    def licence_url(self) -> str:
        return LICENCE_URLS[self.licence]


def _asterisk(
    language: str, folder: str, gender: str, licence: str, credit: str
) -> RealSpeechSource:
    return RealSpeechSource(
        name=f"asterisk-{language}",
        corpus=ASTERISK,
        package=f"asterisk-core-sounds-{language}-wav",
        folder=folder,
        language=language,
        gender=gender,
        licence=licence,
        attribution=f"Asterisk core sound prompts, {credit}",
    )


_ALLISON = (
    "recorded by Allison Smith (http://www.theivrvoice.com), copyright 2003-2010 "
    "Allison Smith; financial contributions by Digium, Inc. (http://www.digium.com)"
)
_JUNE = (
    "recorded by June Wallack (http://www.junewallack.com), copyright 2006-2008 June "
    "Wallack; translated into French by Clod Patry, Kristopher Lalletti and June Wallack; "
    "financial contributions by Digium, Inc., Unlimitel and BGM Informatique"
)
_CARLO = (
    "recorded by Carlo Flora (http://www.carloflora.com), copyright 2012 Carlo Flora "
    "(http://www.segreterietelefoniche.it); translated by Silvia Petrin"
)
_MAXIM = "provided by Maxim Topal (http://www.ivrvoice.ru), copyright 2010"
REAL_SPEECH_SOURCES: dict[str, RealSpeechSource] = {
    s.name: s
    for s in (
        _asterisk("en", "en_US_f_Allison", FEMALE, "CC-BY-SA-3.0", _ALLISON),
        _asterisk("es", "es_MX_f_Allison", FEMALE, "CC-BY-SA-3.0", _ALLISON),
        _asterisk("fr", "fr_CA_f_June", FEMALE, "CC-BY-SA-3.0", _JUNE),
        _asterisk("it", "it_IT_m_Carlo", MALE, "CC-BY-3.0", _CARLO),
        _asterisk("ru", "ru_RU_f_IvrvoiceRU", FEMALE, "CC-BY-3.0", _MAXIM),
        RealSpeechSource(
            name=HEDGEWARS,
            corpus=HEDGEWARS,
            package="hedgewars-data",
            folder="",
            language=None,
            gender=UNKNOWN_GENDER,
            licence="GFDL-1.3",
            attribution=(
                "Hedgewars voice packs (https://hedgewars.org/), copyright 2004-2006 "
                "Andrey Korotaev and the Hedgewars Project"
            ),
        ),
    )
}
"""Every set by name, with its package, licence and attribution (for the model card)."""

ASTERISK_LANGUAGES: tuple[str, ...] = ("en", "es", "fr", "it", "ru")

_ASTERISK_NOT_SPEECH = frozenset(
    {
        "beep",
        "beeperr",
        "ascending-2tone",
        "descending-2tone",
        "confbridge-join",
        "confbridge-leave",
        "tt-monkeys",
    }
)
"""Prompts that are not speech in any language: tones, chimes, and 16 s of monkey screams."""
_ASTERISK_BROKEN = frozenset({("ru", "with")})
"""Files that hold no word: ru `with.wav` is 0.36 s of low noise."""

_HEDGEWARS_LOCALES = frozenset({"es", "pl", "ru", "uk"})
"""Pack-name suffixes: the game's locale, the pack's language (`Default_uk` = Ukrainian).
Packs without one (British, Pirate, Russian, ...) are English character voices."""


GATE_ROLES = ("fit", "calibrate", "held out")


def gate_roles(utterances: Iterable[Utterance]) -> dict[str, str]:
    """Each real speaker's part in an OOD gate calibrated on real speech: within each
    corpus, speakers in sorted order take turns to fit the gate, to set its threshold
    and to be held out, so every corpus keeps voices the gate never saw."""
    utterances = list(utterances)
    roles = {}
    for corpus in sorted({u.corpus for u in utterances}):
        speakers = sorted({u.speaker for u in utterances if u.corpus == corpus})
        roles |= {speaker: GATE_ROLES[i % len(GATE_ROLES)] for i, speaker in enumerate(speakers)}
    return roles


def asterisk_prompts(
    languages: Iterable[str] = ASTERISK_LANGUAGES, root: Path | str = ASTERISK_ROOT
) -> list[Utterance]:
    """The Asterisk IVR prompts of `languages`, one speaker each, sorted by language.

    Args:
        languages: ISO codes from ASTERISK_LANGUAGES.
        root: The folder holding the voice folders (`en_US_f_Allison/`, ...).

    Raises:
        ValueError: A language without an Asterisk package.
        CorpusError: A language's package is not installed (the message names it).
    """
    languages = tuple(languages)
    unknown = [lang for lang in languages if lang not in ASTERISK_LANGUAGES]
    if unknown:
        raise ValueError(
            f"no Asterisk prompts in {', '.join(unknown)} "
            f"(available: {', '.join(ASTERISK_LANGUAGES)})"
        )
    sources = [REAL_SPEECH_SOURCES[f"asterisk-{lang}"] for lang in languages]
    root = Path(root)
    missing = [s.package for s in sources if next((root / s.folder).rglob("*.wav"), None) is None]
    if missing:
        raise _not_installed(root, ASTERISK, missing)
    utterances: list[Utterance] = []
    skipped: list[Path] = []
    for source in sources:
        folder = root / source.folder
        for path in sorted(folder.rglob("*.wav")):
            prompt = path.relative_to(folder).with_suffix("").as_posix()
            if (
                prompt.startswith("silence/")
                or prompt in _ASTERISK_NOT_SPEECH
                or (source.language, prompt) in _ASTERISK_BROKEN
            ):
                continue
            if _seconds(path) < MIN_SECONDS:
                skipped.append(path)
                continue
            utterances.append(
                Utterance(
                    path=path,
                    emotion=NEUTRAL,
                    speaker=source.name,
                    gender=source.gender,
                    corpus=ASTERISK,
                    text_id=prompt,
                    language=source.language,
                    condition="ivr-prompt",
                )
            )
    _log_skipped(ASTERISK, skipped)
    return utterances


def hedgewars_lines(root: Path | str = HEDGEWARS_ROOT) -> list[Utterance]:
    """The Hedgewars voice lines, one speaker per voice pack, sorted by pack and line.

    Args:
        root: The folder holding one folder per voice pack (`British/`, `Default_pl/`, ...).

    Raises:
        CorpusError: hedgewars-data is not installed (the message names it).
    """
    source = REAL_SPEECH_SOURCES[HEDGEWARS]
    root = Path(root)
    files = sorted(root.glob("*/*.ogg"))
    if not files:
        raise _not_installed(root, HEDGEWARS, [source.package])
    utterances: list[Utterance] = []
    skipped: list[Path] = []
    for path in files:
        if _seconds(path) < MIN_SECONDS:
            skipped.append(path)
            continue
        pack = path.parent.name
        locale = pack.rpartition("_")[2]
        utterances.append(
            Utterance(
                path=path,
                emotion=NEUTRAL,
                speaker=f"{HEDGEWARS}:{pack}",
                gender=UNKNOWN_GENDER,
                corpus=HEDGEWARS,
                text_id=path.stem,
                language=locale if locale in _HEDGEWARS_LOCALES else "en",
                condition="acted-game-line",
                extra={"line": path.stem},
            )
        )
    _log_skipped(HEDGEWARS, skipped)
    return utterances


def _not_installed(root: Path, corpus: str, packages: list[str]) -> CorpusError:
    """One line naming the packages whose files are missing and how to install them."""
    return CorpusError(
        f"{root}/: no {corpus} files of {', '.join(packages)} (install with: "
        f"sudo apt-get install --no-install-recommends {' '.join(packages)})"
    )


def _seconds(path: Path) -> float:
    """Duration from the header; an unreadable file counts as empty."""
    try:
        return soundfile.info(path).duration
    except soundfile.LibsndfileError:
        return 0.0


def _log_skipped(corpus: str, skipped: list[Path]) -> None:
    if skipped:
        logger.info(
            "%s: skipped %d file(s) shorter than %.1f s, e.g. %s",
            corpus,
            len(skipped),
            MIN_SECONDS,
            skipped[0],
        )
