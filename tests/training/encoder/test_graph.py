"""The encoder behind the front end, its inner tensors exposed and pooled in the graph."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest

from training.encoder.frontend import WINDOW_SAMPLES
from training.encoder.graph import (
    LAYER_OUTPUTS,
    POOLED,
    SAMPLES_PER_FRAME,
    encoder_model,
    vector_model,
    vector_name,
    waveform_model,
)


def _session(model) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _noise(samples: int, seed: int) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(samples)).astype(np.float32)


def test_the_waveform_graph_gives_the_vector_smart_turn_computes(fetched_encoder, whisper_features):
    import onnx

    waveform = _noise(3 * 16000, seed=0)
    ours = _session(waveform_model(fetched_encoder.onnx)).run(
        [POOLED], {"waveform": waveform[None]}
    )
    original = onnx.load(str(fetched_encoder.onnx))  # its classifier reads this tensor
    original.graph.output.append(onnx.helper.make_tensor_value_info(POOLED, 1, None))
    features = whisper_features.compute_whisper_log_mel_features(
        np.pad(waveform, (WINDOW_SAMPLES - len(waveform), 0))
    )
    reference = _session(original).run([POOLED], {"input_features": features[None]})
    assert ours[0].shape == (1, 384)
    assert np.abs(ours[0] - reference[0]).max() < 1e-4


def test_only_what_the_outputs_need_is_kept(fetched_encoder):
    def layers(model) -> int:
        return sum(node.op_type == "Softmax" for node in model.graph.node)

    assert layers(encoder_model(fetched_encoder.onnx, (LAYER_OUTPUTS[1],))) == 2  # 2 attentions
    assert layers(encoder_model(fetched_encoder.onnx, (POOLED,))) == 5  # 4 + attention pooling


def test_frame_statistics_cover_only_the_frames_that_hold_speech(tiny_encoder):
    name = LAYER_OUTPUTS[1]
    waveform = _noise(20000, seed=1)
    waveform[:700] = 0.0  # leading silence is padding too
    frames = _session(waveform_model(tiny_encoder, (name,))).run(None, {"waveform": waveform[None]})
    vector = _session(vector_model(tiny_encoder, (name,))).run(None, {"waveform": waveform[None]})
    speech = frames[0][0][-int(np.ceil((20000 - 700) / SAMPLES_PER_FRAME)) :]
    expected = np.concatenate([speech.mean(axis=0), speech.std(axis=0)])
    assert vector[0].shape == (1, 768)
    assert np.abs(vector[0][0] - expected).max() < 1e-5


def test_utterances_padded_with_leading_zeros_batch_exactly(tiny_encoder):
    outputs = (POOLED, LAYER_OUTPUTS[1])
    session = _session(vector_model(tiny_encoder, outputs))
    short, long = _noise(9000, seed=2), _noise(30000, seed=3)
    alone = [session.run(None, {"waveform": w[None]}) for w in (short, long)]
    batch = np.stack([np.pad(short, (len(long) - len(short), 0)), long])
    together = session.run(None, {"waveform": batch})
    assert [o.name for o in session.get_outputs()] == [vector_name(n) for n in outputs]
    for index in (0, 1):
        for output in (0, 1):
            assert np.abs(together[output][index] - alone[index][output][0]).max() < 1e-5


def test_a_tensor_the_encoder_lacks_is_refused(tiny_encoder):
    with pytest.raises(ValueError, match="no tensor named add_999"):
        encoder_model(tiny_encoder, ("add_999",))
    with pytest.raises(ValueError, match="need pad='left'"):
        vector_model(tiny_encoder, (LAYER_OUTPUTS[1],), pad="right")
