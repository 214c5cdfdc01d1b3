"""The int8 copy of a fast-tier model: what is quantised, what it keeps, and the ship rule."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from support.speech import conversation, to_int16

from streamser.metadata import OodCalibration, decode_array
from streamser.model import EmotionModel
from streamser.ood import OodGate
from training.experiment import Partition, load_data
from training.export import both_channels
from training.model.msac_sernet import ModelConfig, MSACSERNet
from training.onnx_writer import describe_model, export_onnx
from training.ood.evaluate_model import RuntimePredictor
from training.quantise import (
    MAX_UA_CHANGE,
    calibrate_gate,
    quantisable_convs,
    quantise,
    replace_gate,
    ships,
)


@pytest.fixture(scope="module")
def float_and_int8(tmp_path_factory):
    torch.manual_seed(0)
    network = MSACSERNet(
        ModelConfig(classes=("neutral", "happy", "angry", "sad"), speaker_normalise=True)
    ).eval()
    calibration = OodCalibration(method="msp", threshold=0.0, tpr=0.95)
    metadata = describe_model(network, "quantise-test", calibration, 30.0, {})
    work = tmp_path_factory.mktemp("quantise")
    source = export_onnx(network, metadata, work / "float.onnx")
    audio = [to_int16(conversation([1.0, 0.8], seed=seed)) for seed in range(4)]
    return source, quantise(source, work / "int8.onnx", audio)


def test_only_convolutions_over_several_channels_are_quantised(float_and_int8):
    source, int8 = float_and_int8
    model = onnx.load(str(source))
    chosen = set(quantisable_convs(model))
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    # The STFT and the stem read one channel: they stay float; the blocks do not.
    assert all((n.name in chosen) == (weights[n.input[1]].shape[1] > 1) for n in convs)
    assert 0 < len(chosen) < len(convs)
    quantised = onnx.load(str(int8))
    kinds = {n.op_type for n in quantised.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= kinds


def test_the_int8_copy_keeps_the_contract_and_stays_close(float_and_int8):
    source, int8 = float_and_int8
    original, copy = EmotionModel.load(source), EmotionModel.load(int8)
    assert copy.metadata.name == "quantise-test-int8"
    assert copy.metadata.labels == original.metadata.labels
    assert copy.metadata.speaker_normalisation == original.metadata.speaker_normalisation
    clip = to_int16(conversation([1.5], seed=9)).astype(np.float32) / 32768.0
    a, b = original.infer(clip).logits, copy.infer(clip).logits
    assert not np.array_equal(a, b)  # it is a different network...
    assert np.abs(a - b).max() < 0.1 * np.abs(a).max() + 0.05  # ...and a close one


def test_it_ships_only_when_every_change_is_within_a_point():
    def report(change):
        part = {"wideband": {"change": 0.0}, "telephone": {"change": change}}
        return {"emodb_loso": part, "synthemo": {"wideband": {"change": 0.0},
                                                 "telephone": {"change": 0.0}}}  # fmt: skip

    assert ships(report(-MAX_UA_CHANGE))
    assert ships(report(0.004))
    assert not ships(report(-0.012))
    assert not ships(report(0.02))


def test_the_int8_copy_gets_a_gate_fitted_on_its_own_outputs(float_and_int8, tiny_corpus, tmp_path):
    _, int8 = float_and_int8
    utterances = load_data((str(tiny_corpus),))
    speakers = sorted({u.speaker for u in utterances})
    data = Partition(
        train=[u for u in utterances if u.speaker != speakers[0]],
        validation=[u for u in utterances if u.speaker == speakers[0]],
        test=[],
        held_out_texts=(),
    )
    copy = tmp_path / "int8.onnx"
    copy.write_bytes(int8.read_bytes())
    gate = calibrate_gate(copy, data, seed=0)
    replace_gate(copy, gate)

    before, after = EmotionModel.load(int8).metadata, EmotionModel.load(copy).metadata
    assert after.ood == gate and after.ood.method == before.ood.method == "msp"
    assert (after.name, after.labels, after.speaker_normalisation) == (
        before.name, before.labels, before.speaker_normalisation,
    )  # fmt: skip
    assert decode_array(gate.params["class_means"]).shape == (4, after.embedding_dim)
    # The threshold sits where the copy's own scores put it: it accepts the calibrated
    # share of the validation voice, heard wideband and through the telephone line.
    audio, voices = both_channels(data.validation)
    logits, vectors = RuntimePredictor(copy).predict(audio, voices)
    decide = OodGate(gate).decide
    accepted = np.mean([decide(row, v).accepted for row, v in zip(logits, vectors, strict=True)])
    assert accepted >= gate.tpr - 1 / len(audio)
