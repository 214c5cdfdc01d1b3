"""Waveform augmentation: every stage in call order, reproducible, and configurable from TOML."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training import augment
from training.augment import AugmentConfig, Augmenter
from training.config import TrainConfig

RATE = 16_000
ALL = AugmentConfig(
    speed_probability=1.0,
    reverb_probability=1.0,
    noise_probability=1.0,
    telephone_probability=1.0,
)
NONE = AugmentConfig(
    speed_probability=0.0,
    reverb_probability=0.0,
    noise_probability=0.0,
    telephone_probability=0.0,
)


def share_db(samples: np.ndarray, low_hz: float, high_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / RATE)
    return float(
        10 * np.log10(spectrum[(freqs >= low_hz) & (freqs < high_hz)].sum() / spectrum.sum())
    )


@pytest.fixture
def stages(monkeypatch):
    """Records the stages the Augmenter runs, in order, without changing what they do."""
    calls: list[str] = []

    def spy(name, function):
        def wrapped(*args, **kwargs):
            calls.append(name)
            return function(*args, **kwargs)

        monkeypatch.setattr(augment, name, wrapped)

    for name in ("change_speed", "reverberate", "add_noise", "telephone"):
        spy(name, getattr(augment, name))
    return calls


def test_all_stages_run_in_call_order(stages, speechlike):
    Augmenter(ALL)(speechlike, np.random.default_rng(0))
    assert stages == ["change_speed", "reverberate", "add_noise", "telephone"]


def test_no_stage_runs_at_probability_zero(stages, speechlike):
    Augmenter(NONE)(speechlike, np.random.default_rng(0))
    assert stages == []


def test_every_stage_leaves_its_mark(speechlike):
    # Loud white-or-pink noise before the phone line: the line must band-limit it too.
    config = AugmentConfig(**{**vars(ALL), "noise_snr_db": (5.0, 5.0)})
    no_phone = AugmentConfig(**{**vars(config), "telephone_probability": 0.0})
    for seed in range(4):
        assert (
            share_db(Augmenter(no_phone)(speechlike, np.random.default_rng(seed)), 3600, 8000) > -30
        )
        out = Augmenter(config)(speechlike, np.random.default_rng(seed))
        assert out.dtype == np.float32 and np.isfinite(out).all()
        assert np.abs(out).max() <= 1.0
        assert out.size != speechlike.size  # speed changed
        assert 0.94 * speechlike.size < out.size < 1.06 * speechlike.size
        assert share_db(out, 3600, 8000) < -35  # telephone came after the noise
        assert share_db(out, 0, 200) < -25
        pause = out[int(0.65 * out.size / 2) : int(0.95 * out.size / 2)]
        assert np.sqrt(np.mean(pause**2)) > 1e-3  # noise and reverb fill the pause


def test_augmentation_is_deterministic_for_a_seed(speechlike):
    augmenter = Augmenter(ALL)
    first = augmenter(speechlike, np.random.default_rng(7))
    again = augmenter(speechlike, np.random.default_rng(7))
    other = augmenter(speechlike, np.random.default_rng(8))
    assert np.array_equal(first, again)
    assert not (first.size == other.size and np.array_equal(first, other))
    # Default probabilities too: a whole stream of utterances repeats.
    rngs = np.random.default_rng(3), np.random.default_rng(3)
    runs = [[Augmenter()(speechlike, rng) for _ in range(6)] for rng in rngs]
    assert all(np.array_equal(a, b) for a, b in zip(*runs, strict=True))


def test_probability_zero_leaves_only_the_gain(speechlike):
    gains = []
    for seed in range(5):
        out = Augmenter(NONE)(speechlike, np.random.default_rng(seed))
        loudest = np.argmax(np.abs(speechlike))
        gain = out[loudest] / speechlike[loudest]
        assert out.size == speechlike.size
        assert np.allclose(out, speechlike * gain, rtol=1e-6, atol=1e-7)
        assert abs(20 * np.log10(gain)) <= NONE.gain_db
        gains.append(gain)
    assert np.ptp(gains) > 0.1  # the gain itself is still random


def test_defaults_keep_the_existing_fields():
    config = AugmentConfig()
    assert (config.speed_range, config.speed_probability, config.noise_probability) == (
        0.05,
        0.5,
        0.5,
    )
    assert (config.noise_snr_db, config.gain_db) == ((10.0, 35.0), 6.0)
    assert (config.telephone_probability, config.reverb_probability) == (0.25, 0.25)
    assert config.reverb_rt60_s == (0.2, 0.8)


def test_train_config_round_trips_the_new_fields():
    custom = AugmentConfig(
        telephone_probability=0.4,
        reverb_probability=0.1,
        reverb_rt60_s=(0.3, 0.6),
        noise_snr_db=(5.0, 20.0),
    )
    config = TrainConfig(data=("crema-d=/data/crema",), augment=custom)
    # Checkpoints store the dict as JSON-like data: tuples come back as lists.
    stored = json.loads(json.dumps(config.to_dict()))
    assert stored["augment"]["reverb_rt60_s"] == [0.3, 0.6]
    restored = TrainConfig.from_dict(stored)
    assert restored == config
    assert isinstance(restored.augment.reverb_rt60_s, tuple)
    assert isinstance(restored.augment.noise_snr_db, tuple)
    off = TrainConfig(data=("x",), augment=None)
    assert TrainConfig.from_dict(json.loads(json.dumps(off.to_dict()))) == off


def test_train_config_reads_new_fields_from_toml(tmp_path):
    path = tmp_path / "train.toml"
    path.write_text(
        'data = ["crema-d=/data/crema"]\n'
        "[augment]\n"
        "telephone_probability = 0.5\n"
        "reverb_rt60_s = [0.25, 0.5]\n"
    )
    config = TrainConfig.from_toml(path)
    assert config.augment == AugmentConfig(telephone_probability=0.5, reverb_rt60_s=(0.25, 0.5))
