"""Real speech from Debian packages (installed by `bin/setup test`): listing, decoding, errors."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from streamser.audio import load_mono
from streamser.constants import SAMPLE_RATE_HZ
from streamser.labels import FEMALE, MALE, NEUTRAL, UNKNOWN_GENDER
from training.corpora import CorpusError, Utterance
from training.real_speech import (
    ASTERISK,
    ASTERISK_LANGUAGES,
    HEDGEWARS,
    MIN_SECONDS,
    REAL_SPEECH_SOURCES,
    asterisk_prompts,
    gate_roles,
    hedgewars_lines,
)


@pytest.fixture(scope="module")
def prompts() -> list[Utterance]:
    return asterisk_prompts()


@pytest.fixture(scope="module")
def lines() -> list[Utterance]:
    return hedgewars_lines()


def assert_speech(utterance: Utterance) -> None:
    samples = load_mono(utterance.path)
    assert samples.dtype == np.int16
    assert len(samples) >= MIN_SECONDS * SAMPLE_RATE_HZ * 0.95, utterance.path
    frames = samples[: len(samples) // 320 * 320].reshape(-1, 320).astype(np.float64)
    loudest = np.sqrt((frames**2).mean(axis=1)).max()
    assert loudest > 1000, f"{utterance.path}: loudest 20 ms frame has RMS {loudest:.0f}"


def test_asterisk_has_hundreds_of_prompts_per_language(prompts: list[Utterance]) -> None:
    counts = Counter(u.language for u in prompts)
    assert set(counts) == set(ASTERISK_LANGUAGES)
    assert all(400 <= n <= 700 for n in counts.values()), counts
    for u in prompts:
        assert (u.emotion, u.corpus, u.condition) == (NEUTRAL, ASTERISK, "ivr-prompt")
        assert u.speaker == f"asterisk-{u.language}"
        assert u.path.suffix == ".wav" and not u.text_id.startswith("silence/")
    genders = {u.language: u.gender for u in prompts}
    assert genders == {"en": FEMALE, "es": FEMALE, "fr": FEMALE, "it": MALE, "ru": FEMALE}
    # The same prompt names recur across languages, so text-aware splits are possible.
    assert {u.text_id for u in prompts if u.language == "en"} & {
        u.text_id for u in prompts if u.language == "ru"
    } >= {"vm-password", "digits/5"}


def test_asterisk_selects_languages() -> None:
    chosen = asterisk_prompts(languages=("it",))
    assert {u.speaker for u in chosen} == {"asterisk-it"}
    with pytest.raises(ValueError, match=r"no Asterisk prompts in de \(available: en, es"):
        asterisk_prompts(languages=("de",))


def test_asterisk_leaves_out_tones_silence_and_short_files(prompts: list[Utterance]) -> None:
    names = {u.text_id for u in prompts}
    assert not names & {"beep", "beeperr", "tt-monkeys", "confbridge-join"}
    assert ("ru", "is") not in {(u.language, u.text_id) for u in prompts}  # an empty file


def test_hedgewars_voice_packs(lines: list[Utterance]) -> None:
    packs = Counter(u.speaker for u in lines)
    assert len(packs) == 15 and 700 <= len(lines) <= 839
    assert all(n >= 30 for n in packs.values()), packs
    languages = {u.speaker.removeprefix("hedgewars:"): u.language for u in lines}
    assert languages["British"] == "en" and languages["Russian"] == "en"
    assert languages["Default_es"] == "es" and languages["Default_uk"] == "uk"
    assert languages["Russian_pl"] == "pl"
    for u in lines:
        assert (u.emotion, u.corpus, u.condition) == (NEUTRAL, HEDGEWARS, "acted-game-line")
        assert u.speaker.startswith("hedgewars:") and u.gender == UNKNOWN_GENDER
        assert u.extra["line"] == u.path.stem and u.path.suffix == ".ogg"


def test_a_sample_of_every_set_decodes_to_canonical_speech(
    prompts: list[Utterance], lines: list[Utterance]
) -> None:
    rng = random.Random(0)
    for language in ASTERISK_LANGUAGES:
        subset = [u for u in prompts if u.language == language]
        for u in rng.sample(subset, 6):
            assert_speech(u)
    for pack in sorted({u.speaker for u in lines}):
        for u in rng.sample([u for u in lines if u.speaker == pack], 2):
            assert_speech(u)


def test_8k_wav_and_44k_stereo_ogg_are_resampled_to_16k(
    prompts: list[Utterance], lines: list[Utterance]
) -> None:
    import soundfile

    wav = next(u for u in prompts if u.text_id == "vm-password" and u.language == "en")
    ogg = next(u for u in lines if u.speaker == "hedgewars:British" and u.text_id == "Amazing")
    for u, rate in ((wav, 8000), (ogg, 44100)):
        info = soundfile.info(u.path)
        assert info.samplerate == rate
        samples = load_mono(u.path)
        assert samples.ndim == 1
        assert abs(len(samples) - info.duration * SAMPLE_RATE_HZ) <= 0.01 * SAMPLE_RATE_HZ


@pytest.mark.parametrize(
    ("load", "package"),
    [
        (lambda root: asterisk_prompts(root=root), "asterisk-core-sounds-en-wav"),
        (lambda root: asterisk_prompts(("fr",), root=root), "asterisk-core-sounds-fr-wav"),
        (lambda root: hedgewars_lines(root=root), "hedgewars-data"),
    ],
)
def test_missing_package_is_a_one_line_error_naming_it(load, package: str, tmp_path: Path) -> None:
    for root in (tmp_path, tmp_path / "missing"):
        with pytest.raises(CorpusError) as info:
            load(root)
        message = str(info.value)
        assert "\n" not in message
        assert package in message
        assert f"apt-get install --no-install-recommends {package}" in message


def test_sources_name_package_licence_and_attribution() -> None:
    assert set(REAL_SPEECH_SOURCES) == {f"asterisk-{lang}" for lang in ASTERISK_LANGUAGES} | {
        HEDGEWARS
    }
    licences = {name: s.licence for name, s in REAL_SPEECH_SOURCES.items()}
    assert licences["asterisk-en"] == "CC-BY-SA-3.0" and licences["asterisk-it"] == "CC-BY-3.0"
    assert licences[HEDGEWARS] == "GFDL-1.3"
    for source in REAL_SPEECH_SOURCES.values():
        assert source.attribution and source.licence_url.startswith("https://")
        assert Path(f"/usr/share/doc/{source.package}/copyright").is_file()


def test_gate_roles_keep_held_out_voices_in_every_corpus(
    prompts: list[Utterance], lines: list[Utterance]
) -> None:
    roles = gate_roles(prompts + lines)
    assert set(roles) == {u.speaker for u in prompts + lines}
    for corpus in (prompts, lines):
        theirs = {roles[u.speaker] for u in corpus}
        assert theirs == {"fit", "calibrate", "held out"}
    assert roles == gate_roles(reversed(prompts + lines))  # order of the input does not matter
