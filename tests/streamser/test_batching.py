"""Utterances of several streams batched into one run: same answers, fewer runs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from streamser.batching import Batcher
from streamser.labels import FOUR_CLASS
from streamser.metadata import METADATA_KEY, ModelMetadata, OodCalibration, SpeakerNormalisationInfo
from streamser.model import EmotionModel, ModelOptions
from streamser.speaker import SpeakerStatistics


def _together(function, arguments, threads: int):
    """Calls `function` on every argument from `threads` threads started at once."""
    results = [None] * len(arguments)
    start = threading.Barrier(threads)

    def work(offset: int) -> None:
        start.wait()
        for index in range(offset, len(arguments), threads):
            results[index] = function(arguments[index])

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    return results


def test_concurrent_items_are_run_together_and_each_gets_its_own_result():
    sizes = []

    def square_all(items):
        sizes.append(len(items))
        time.sleep(0.02)  # a run long enough for the other threads to queue behind it
        return [item * item for item in items]

    batcher = Batcher(square_all, max_batch=4)
    results = _together(batcher.submit, list(range(24)), threads=8)
    assert results == [i * i for i in range(24)]
    assert batcher.items == 24 and sum(sizes) == 24
    assert batcher.batches < 24  # some were coalesced
    assert max(sizes) <= 4


def test_a_lone_item_runs_at_once_and_alone():
    batcher = Batcher(lambda items: [str(i) for i in items])
    assert batcher.submit(7) == "7"
    assert (batcher.batches, batcher.items) == (1, 1)


def test_a_failing_run_fails_its_callers_and_the_next_run_works():
    calls = []

    def flaky(items):
        calls.append(list(items))
        if len(calls) == 1:
            raise RuntimeError("device lost")
        return items

    batcher = Batcher(flaky)
    with pytest.raises(RuntimeError, match="device lost"):
        batcher.submit(1)
    assert batcher.submit(2) == 2


def _invariant_model(path: Path, speaker_normalised: bool) -> Path:
    """A model whose features (sum of squares, sum of magnitudes, peak) ignore leading
    zeros, as the accurate tier's do, declared in its metadata."""
    rng = np.random.default_rng(0)
    weights = {
        "axis": np.array([1], np.int64),
        "one": np.array(1.0, np.float32),
        "classes": rng.standard_normal((3, 4)).astype(np.float32),
        "project": rng.standard_normal((3, 8)).astype(np.float32),
    }
    node = helper.make_node
    nodes = [
        node("ReduceSumSquare", ["waveform", "axis"], ["energy"], keepdims=1),
        node("ReduceL1", ["waveform", "axis"], ["magnitude"], keepdims=1),
        node("Abs", ["waveform"], ["absolute"]),
        node("ReduceMax", ["absolute", "axis"], ["peak"], keepdims=1),
        node("Concat", ["energy", "magnitude", "peak"], ["raw"], axis=1),
        node("Add", ["raw", "one"], ["raw1"]),
        node("Log", ["raw1"], ["features"]),
    ]
    inputs = [helper.make_tensor_value_info("waveform", TensorProto.FLOAT, ["b", "n"])]
    top = "features"
    if speaker_normalised:
        nodes += [
            node("Unsqueeze", ["speaker_count", "axis"], ["count"]),
            node("Add", ["count", "one"], ["count1"]),
            node("Div", ["speaker_sum", "count1"], ["mean"]),
            node("Sub", ["features", "mean"], ["centred"]),
        ]
        inputs += [
            helper.make_tensor_value_info("speaker_sum", TensorProto.FLOAT, ["b", 3]),
            helper.make_tensor_value_info("speaker_sum_squares", TensorProto.FLOAT, ["b", 3]),
            helper.make_tensor_value_info("speaker_count", TensorProto.FLOAT, ["b"]),
        ]
        nodes.append(node("Identity", ["speaker_sum_squares"], ["unused"]))
        top = "centred"
    nodes += [
        node("MatMul", [top, "classes"], ["logits"]),
        node("MatMul", [top, "project"], ["projected"]),
        node("LpNormalization", ["projected"], ["embedding"], axis=1, p=2),
    ]
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", 4]),
        helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["b", 8]),
        helper.make_tensor_value_info("features", TensorProto.FLOAT, ["b", 3]),
    ]
    initializers = [numpy_helper.from_array(v, name=k) for k, v in weights.items()]
    graph = helper.make_graph(nodes, "invariant", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    metadata = ModelMetadata(
        name="invariant",
        labels=FOUR_CLASS,
        sample_rate=16000,
        min_seconds=0.1,
        max_seconds=8.0,
        frontend={"leading_zeros_invariant": True},
        ood=OodCalibration(method="energy", threshold=-1e9, tpr=0.95),
        training={},
        embedding_dim=8,
        speaker_normalisation=SpeakerNormalisationInfo(3, 0.0) if speaker_normalised else None,
    )
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata.to_json()
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("speaker_normalised", [False, True])
def test_batched_streams_get_what_each_would_get_alone(tmp_path, speaker_normalised):
    path = _invariant_model(tmp_path / "m.onnx", speaker_normalised)
    alone = EmotionModel.load(path, ModelOptions(batch=False))
    together = EmotionModel.load(path, ModelOptions(batch=True))
    assert alone.batcher is None and together.batcher is not None
    rng = np.random.default_rng(1)
    utterances = [
        (0.1 * rng.standard_normal(rng.integers(1600, 40000))).astype(np.float32) for _ in range(16)
    ]
    streams = {i: (SpeakerStatistics(), SpeakerStatistics()) for i in range(4)}
    # Each stream's utterances in order, the streams side by side on four threads.
    expected = {
        i: [alone.infer(utterances[j], streams[i][0]) for j in range(i, 16, 4)] for i in range(4)
    }

    def stream(i: int):
        return [together.infer(utterances[j], streams[i][1]) for j in range(i, 16, 4)]

    got = dict(enumerate(_together(stream, list(range(4)), threads=4)))
    for i in range(4):
        for mine, theirs in zip(got[i], expected[i], strict=True):
            assert np.allclose(mine.logits, theirs.logits, atol=1e-4)
            assert np.allclose(mine.embedding, theirs.embedding, atol=1e-5)
        if speaker_normalised:
            assert streams[i][1].count == streams[i][0].count == 4
    assert together.batcher.items == 16 + 1  # and the warm-up run at load


def test_a_model_that_does_not_declare_invariance_is_never_batched(untrained_model):
    assert EmotionModel.load(untrained_model, ModelOptions(batch=True)).batcher is None
    assert EmotionModel.load(untrained_model).batcher is None  # CPU: off by default
