"""The bundled model's recipe: its variants and its fixed choices."""

from __future__ import annotations

import dataclasses

from streamser.labels import FOUR_CLASS
from training.channel import TELEPHONE_BAND_HZ
from training.config import FrontendConfig, TrainConfig
from training.corpora import Utterance
from training.default_model import (
    ABLATION,
    SHIPPED_VARIANT,
    VALIDATION_SPEAKERS,
    shipped_partition,
    variant,
)


def _config(name: str) -> TrainConfig:
    return TrainConfig.from_dict({**variant(name), "data": ("emodb=x",), "classes": FOUR_CLASS})


def test_each_ablation_row_switches_off_one_thing_of_the_shipped_variant():
    shipped = _config(SHIPPED_VARIANT)
    assert _config("msac").frontend == _config("speaker-norm").frontend == shipped.frontend
    assert shipped.speaker_normalise and shipped.msac.speaker_weight > 0
    without_speaker_norm = _config("msac")
    without_msac = _config("speaker-norm")
    assert not without_speaker_norm.speaker_normalise
    assert without_speaker_norm.msac == shipped.msac
    assert without_msac.speaker_normalise
    assert without_msac.msac.gender_weight == without_msac.msac.speaker_weight == 0
    assert set(ABLATION) == {SHIPPED_VARIANT, "msac", "speaker-norm", "msac-speaker-norm-fullband"}
    fullband = _config("msac-speaker-norm-fullband")
    assert fullband.frontend == FrontendConfig()
    assert dataclasses.replace(fullband, frontend=shipped.frontend) == shipped
    for name in ABLATION:  # the same training budget for every row
        assert (_config(name).epochs, _config(name).crop_seconds) == (
            shipped.epochs,
            shipped.crop_seconds,
        )


def test_the_shipped_variant_hears_the_telephone_band_whatever_the_channel():
    frontend = _config(SHIPPED_VARIANT).frontend
    assert (frontend.f_min_hz, frontend.f_max_hz) == TELEPHONE_BAND_HZ


def test_the_shipped_run_validates_on_real_voices_it_never_trains_on():
    def utterance(speaker: str, corpus: str) -> Utterance:
        return Utterance(f"{speaker}.wav", "neutral", speaker, "female", corpus)

    emodb = [utterance(f"emodb:{n:02d}", "emodb") for n in (3, 8, 9, 10)]
    synthemo = [utterance("synthemo-flite:slt", "synthemo-flite")]
    data = shipped_partition(emodb, synthemo)
    assert {u.speaker for u in data.validation} == set(VALIDATION_SPEAKERS)
    assert not {u.speaker for u in data.train} & set(VALIDATION_SPEAKERS)
    assert {u.corpus for u in data.validation} == {"emodb"}
    assert synthemo[0] in data.train
