"""The ONNX front end computes the features the encoder was trained on."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest

from training.encoder.frontend import (
    FEATURES_NAME,
    WINDOW_SAMPLES,
    slaney_mel_filters,
    whisper_frontend,
)

TOLERANCE = 5e-5
"""The reference computes the spectrum in float64, the graph in float32; the encoder
quantises its input in steps of 0.0096, two hundred times coarser."""


def _session(pad: str) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    model = whisper_frontend(pad).SerializeToString()
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _speechlike(samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 16000
    voice = sum(np.sin(2 * np.pi * k * 140 * t) / k for k in range(1, 10))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 2.5 * t)
    return (0.2 * voice * envelope + 0.01 * rng.standard_normal(samples)).astype(np.float32)


@pytest.mark.parametrize("seconds", [8.0, 3.0, 0.3, 11.0])
def test_left_padded_features_match_the_encoders_own_feature_code(seconds, whisper_features):
    waveform = _speechlike(int(seconds * 16000), seed=int(seconds * 10))
    ours = _session("left").run([FEATURES_NAME], {"waveform": waveform[None]})[0][0]
    window = waveform[-WINDOW_SAMPLES:]  # the last 8 s, zeros before: Smart Turn's layout
    padded = np.pad(window, (WINDOW_SAMPLES - len(window), 0))
    reference = whisper_features.compute_whisper_log_mel_features(padded)
    assert ours.shape == reference.shape == (80, 800)
    assert np.abs(ours - reference).max() < TOLERANCE


def test_right_padded_features_match_whispers_own_layout(whisper_features):
    waveform = _speechlike(3 * 16000, seed=1)
    ours = _session("right").run([FEATURES_NAME], {"waveform": waveform[None]})[0][0]
    reference = whisper_features.compute_whisper_log_mel_features(waveform)  # pads after
    assert np.abs(ours - reference).max() < TOLERANCE


def test_the_mel_filters_are_librosas_slaney_filters():
    import librosa

    expected = librosa.filters.mel(sr=16000, n_fft=400, n_mels=80, htk=False, norm="slaney")
    assert np.allclose(slaney_mel_filters(), expected, rtol=1e-5, atol=1e-8)


def test_leading_zeros_change_nothing_so_utterances_batch_exactly():
    session = _session("left")
    short, long = _speechlike(16000, seed=2), _speechlike(40000, seed=3)
    alone = [session.run(None, {"waveform": w[None]})[0][0] for w in (short, long)]
    batch = np.stack([np.pad(short, (len(long) - len(short), 0)), long])
    together = session.run(None, {"waveform": batch})[0]
    assert np.abs(together[0] - alone[0]).max() < TOLERANCE
    assert np.abs(together[1] - alone[1]).max() < TOLERANCE


def test_a_padding_side_other_than_left_or_right_is_refused():
    with pytest.raises(ValueError, match="expected one of left, right"):
        whisper_frontend("centre")
