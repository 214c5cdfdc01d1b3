"""eGeMAPS functionals: one finite row per clip, whatever the clip, and a pitch that moves."""

import numpy as np
import pytest
from support.speech import to_int16, voiced

import training.egemaps as egemaps
from training.egemaps import EGEMAPS_DIM, FEATURE_NAMES, egemaps_functionals

F0_MEAN = FEATURE_NAMES.index("F0semitoneFrom27.5Hz_sma3nz_amean")


def test_one_row_of_88_per_clip_with_names():
    clips = [
        to_int16(voiced(1.0, f0_hz=140)),
        to_int16(0.1 * np.random.default_rng(0).standard_normal(8000)),
    ]
    features = egemaps_functionals(clips)
    assert features.shape == (2, EGEMAPS_DIM) == (2, 88)
    assert features.dtype == np.float64
    assert len(FEATURE_NAMES) == EGEMAPS_DIM == len(set(FEATURE_NAMES))
    assert not np.array_equal(features[0], features[1])
    assert egemaps_functionals([]).shape == (0, 88)


@pytest.mark.parametrize(
    "clip",
    [
        np.zeros(16000, dtype=np.int16),  # digital silence
        to_int16(voiced(0.05)),  # shorter than one 60 ms pitch frame
        np.array([123], dtype=np.int16),
        np.zeros(0, dtype=np.int16),
    ],
    ids=["silence", "50ms", "one-sample", "empty"],
)
def test_degenerate_clips_give_finite_rows(clip):
    features = egemaps_functionals([clip])
    assert features.shape == (1, 88)
    assert np.isfinite(features).all()


def test_a_voice_an_octave_higher_is_twelve_semitones_higher():
    low, high = egemaps_functionals(
        [to_int16(voiced(1.0, f0_hz=110)), to_int16(voiced(1.0, f0_hz=220))]
    )
    assert low[F0_MEAN] == pytest.approx(24.0, abs=1.5)  # 110 Hz is 24 semitones above 27.5 Hz
    assert high[F0_MEAN] - low[F0_MEAN] == pytest.approx(12.0, abs=1.0)


def test_nan_and_infinity_from_the_extractor_become_zero(monkeypatch):
    raw = np.arange(88, dtype=np.float64) + 1
    raw[[3, 10, 20]] = [np.nan, np.inf, -np.inf]
    monkeypatch.setattr(egemaps, "extract_egemaps", lambda x, sr: {"egemaps": raw[:, None]})
    row = egemaps_functionals([np.ones(1600, dtype=np.int16)])[0]
    assert row[[3, 10, 20]].tolist() == [0.0, 0.0, 0.0]
    assert row[0] == 1.0 and row[87] == 88.0


def test_float_audio_is_refused_rather_than_misread():
    with pytest.raises(TypeError, match="int16"):
        egemaps_functionals([voiced(0.2)])


def test_worker_processes_give_the_same_rows_as_one_process():
    clips = [to_int16(voiced(0.3, f0_hz=f0, seed=i)) for i, f0 in enumerate((100, 180, 260))]
    np.testing.assert_array_equal(egemaps_functionals(clips, workers=2), egemaps_functionals(clips))
