"""Speaker normalisation: in the network, in the exported file and in the runtime."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamser.metadata import OodCalibration
from streamser.model import EmotionModel
from streamser.speaker import SpeakerStatistics
from training.model.layers import SpeakerNormalisation
from training.model.msac_sernet import ModelConfig, MSACSERNet, batch_context
from training.onnx_writer import describe_model, export_onnx
from training.predict import READINGS, predict, speaker_contexts


def _context(features: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Each row's context: the other rows (one speaker)."""
    arrays = speaker_contexts(features.numpy(), ["s"] * len(features))
    return tuple(torch.from_numpy(a).float() for a in arrays)


def test_a_speakers_constant_offset_disappears_once_its_utterances_are_known():
    layer = SpeakerNormalisation(dim=4, prior_utterances=0.0).eval()
    features = torch.randn(6, 4)
    shifted = features + torch.tensor([5.0, -3.0, 2.0, 10.0])
    plain = layer(features, *_context(features))
    moved = layer(shifted, *_context(shifted))
    assert torch.allclose(plain, moved, atol=1e-4)


def test_without_context_the_population_prior_carries_the_first_utterance():
    layer = SpeakerNormalisation(dim=3, prior_utterances=4.0).eval()
    zeros = torch.zeros(1, 3)
    at_population_mean = layer(zeros, zeros, zeros, torch.zeros(1))
    far = layer(torch.full((1, 3), 10.0), zeros, zeros, torch.zeros(1))
    assert torch.allclose(at_population_mean, torch.zeros(1, 3))
    assert (far > 1).all()  # not erased: one utterance against a prior of four


def test_training_updates_the_population_prior_and_evaluation_does_not():
    layer = SpeakerNormalisation(dim=2, prior_utterances=4.0)
    batch = torch.full((8, 2), 3.0) + torch.randn(8, 2)
    zeros = torch.zeros(8, 2)
    layer(batch, zeros, zeros, torch.zeros(8))
    trained_mean = layer.population_mean.clone()
    assert (trained_mean > 0).all()
    layer.eval()
    layer(batch, zeros, zeros, torch.zeros(8))
    assert torch.equal(layer.population_mean, trained_mean)


def test_a_batch_context_holds_only_other_utterances_of_the_same_speaker():
    torch.manual_seed(0)
    pooled = torch.arange(1.0, 7.0)[:, None]
    speakers = torch.tensor([0, 0, 0, 1, 1, 2])
    total, _, count = batch_context(pooled, speakers)
    assert count[5] == 0 and total[5] == 0  # a speaker alone in the batch
    for row in range(5):
        others = [i for i in range(6) if speakers[i] == speakers[row] and i != row]
        assert count[row] <= len(others)
        assert total[row, 0] <= sum(pooled[i, 0] for i in others)
    torch.manual_seed(1)
    counts = torch.stack([batch_context(pooled, speakers)[2] for _ in range(200)])
    assert counts[:, 0].min() == 0 and counts[:, 0].max() == 2  # from none to all


@pytest.fixture(scope="module")
def speaker_model(tmp_path_factory) -> tuple[MSACSERNet, EmotionModel]:
    torch.manual_seed(0)
    network = MSACSERNet(
        ModelConfig(classes=("neutral", "happy", "angry", "sad"), speaker_normalise=True)
    )
    # A trained prior, not the initial zeros and ones, so that parity tests it.
    network.speaker_normalisation.population_mean.normal_()
    network.speaker_normalisation.population_var.uniform_(0.5, 2.0)
    network.eval()
    calibration = OodCalibration(method="msp", threshold=0.0, tpr=0.95)
    metadata = describe_model(network, "speaker-test", calibration, 30.0, {})
    path = export_onnx(network, metadata, tmp_path_factory.mktemp("sn") / "speaker.onnx")
    return network, EmotionModel.load(path)


def test_the_exported_file_declares_speaker_normalisation(speaker_model):
    network, model = speaker_model
    info = model.metadata.speaker_normalisation
    assert info is not None
    assert info.feature_dim == network.config.pooled_dim
    assert info.prior_utterances == network.config.speaker_prior_utterances


def test_the_runtime_matches_torch_as_a_streams_statistics_grow(speaker_model):
    network, model = speaker_model
    rng = np.random.default_rng(0)
    clips = [(0.1 * rng.standard_normal(16000)).astype(np.float32) for _ in range(4)]
    statistics = SpeakerStatistics()
    with torch.no_grad():
        pooled = torch.cat([network.pooled(torch.from_numpy(c)[None]) for c in clips])
    for i, clip in enumerate(clips):
        inference = model.infer(clip, statistics)
        earlier = pooled[:i].double()
        context = (
            earlier.sum(0, keepdim=True).float(),
            earlier.square().sum(0, keepdim=True).float(),
            torch.tensor([float(i)]),
        )
        with torch.no_grad():
            expected = network.head(pooled[i : i + 1], context=context).logits[0].numpy()
        np.testing.assert_allclose(inference.logits, expected, atol=1e-3)
        assert statistics.count == i + 1


def test_a_stream_with_history_scores_differently_from_a_fresh_one(speaker_model):
    _, model = speaker_model
    rng = np.random.default_rng(1)
    clip = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    statistics = SpeakerStatistics()
    for _ in range(5):
        model.infer((0.3 * rng.standard_normal(16000)).astype(np.float32), statistics)
    with_history = model.infer(clip, statistics).logits
    fresh = model.infer(clip).logits
    assert not np.allclose(with_history, fresh, atol=1e-3)


def test_the_gate_of_a_speaker_normalised_model_reads_its_pooled_features(
    speaker_model, tiny_corpus, tmp_path
):
    """Normalisation pulls any input towards the training data, so the gate scores the
    features before it, calibrated on wideband and telephone copies alike."""
    from streamser.labels import FOUR_CLASS
    from streamser.ood import OodGate, ood_score
    from training.config import TrainConfig
    from training.experiment import partition
    from training.export import features_calibration

    network, _ = speaker_model
    data = partition(TrainConfig(data=(str(tiny_corpus),), classes=FOUR_CLASS))
    calibration = features_calibration(network, data, "mahalanobis", 0.95, seed=0)
    assert calibration.vector == "features"
    metadata = describe_model(network, "speaker-gate", calibration, 30.0, {})
    model = EmotionModel.load(export_onnx(network, metadata, tmp_path / "gated.onnx"))
    gate = OodGate(model.metadata.ood)
    assert gate.vector == "features"
    clip = (0.1 * np.random.default_rng(2).standard_normal(16000)).astype(np.float32)
    inference = model.infer(clip)
    expected = ood_score(
        "mahalanobis", inference.logits[None], inference.features[None], calibration
    )
    assert gate.decide(inference.logits, inference.features).score == pytest.approx(expected[0])
    means = calibration.params["class_means"]
    assert means["shape"] == [4, network.config.pooled_dim]  # class means of the features


def test_a_stream_reading_knows_only_the_utterances_heard_before():
    rng = np.random.default_rng(1)
    features = rng.standard_normal((7, 3))
    speakers = ["a", "b", "a", "a", "b", "a", "b"]
    total, squares, count = speaker_contexts(features, speakers, "stream")
    offline = speaker_contexts(features, speakers, "offline")
    for speaker in ("a", "b"):
        members = [i for i, s in enumerate(speakers) if s == speaker]
        # Each speaker is one stream: its utterances come in some order, each knowing
        # those before it, the last one knowing all the others (the offline reading).
        order = sorted(members, key=lambda i: count[i])
        assert [count[i] for i in order] == list(range(len(members)))
        for position, i in enumerate(order):
            before = features[order[:position]]
            assert np.allclose(total[i], before.sum(axis=0))
            assert np.allclose(squares[i], (before**2).sum(axis=0))
        last = order[-1]
        assert np.allclose(total[last], offline[0][last])
    again = speaker_contexts(features, speakers, "stream")
    assert all(np.array_equal(a, b) for a, b in zip(again, (total, squares, count), strict=True))


def test_a_fresh_reading_leaves_every_utterance_to_the_prior():
    features = np.ones((4, 2))
    for part in speaker_contexts(features, ["a"] * 4, "fresh"):
        assert not part.any()
    assert set(READINGS) == {"offline", "stream", "fresh"}
    with pytest.raises(ValueError, match="reading 'later'"):
        speaker_contexts(features, ["a"] * 4, "later")


def test_the_stream_reading_is_what_the_runtime_answers_on_one_stream(speaker_model):
    network, model = speaker_model
    rng = np.random.default_rng(2)
    clips = [np.round(3000 * rng.standard_normal(16000)).astype(np.int16) for _ in range(5)]
    logits, _ = predict(network, clips, 30.0, ["caller"] * len(clips), "stream")
    pooled = np.concatenate(
        [
            network.pooled(torch.from_numpy(c.astype(np.float32) / 32768)[None]).detach().numpy()
            for c in clips
        ]
    )
    order = np.argsort(speaker_contexts(pooled, ["caller"] * len(clips), "stream")[2])
    statistics = SpeakerStatistics()
    for i in order:  # the order the reading heard them in, through the runtime
        heard = model.infer(clips[i].astype(np.float32) / 32768, statistics)
        np.testing.assert_allclose(heard.logits, logits[i], atol=1e-3)
