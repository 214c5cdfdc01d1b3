"""Every entry point ends with the same summary: `StreamSet` is the one place that
counts, records latency and describes the options."""

from __future__ import annotations

import asyncio
import io
import json
import math
import subprocess
import sys

import pytest
from support.audio import wav_bytes
from support.speech import conversation, to_int16

from streamser import Recognizer, RecognizerOptions
from streamser.audio import AudioFormat, Encoding
from streamser.events import UtteranceEvent
from streamser.server.options import Limits
from streamser.server.pool import InferencePool
from streamser.server.session import CallSession, CallSpec
from streamser.streams import LatencyRecord

DURATIONS = [0.8, 1.2]


def shape(value):
    """The nested keys of a JSON value; streams are compared by one stream's keys."""
    if not isinstance(value, dict):
        return None
    return {
        key: shape(next(iter(inner.values()))) if key in ("streams",) else shape(inner)
        for key, inner in value.items()
    }


def summary_of_stream_recognizer(model, audio) -> dict:
    stream = Recognizer(model).stream()
    stream.process(to_int16(audio))
    stream.flush()
    return stream.summary().to_dict()


def summary_of_iter_events(model, audio) -> dict:
    source = io.BytesIO(wav_bytes(audio, 16000))
    return list(Recognizer(model).iter_events(source))[-1].to_dict()


def summary_of_a_call(model, audio) -> dict:
    recognizer = Recognizer(model)

    async def main():
        pool = InferencePool(recognizer.worker)
        spec = CallSpec(
            "call-1", "native", ("ch0",), AudioFormat(16000, 1, Encoding.PCM_S16), False
        )
        session = CallSession(spec, pool, recognizer.options, Limits(), _ignore)
        await session.push_interleaved(to_int16(audio).tobytes())
        summary = await session.finish()
        pool.close()
        return summary.to_dict()

    return asyncio.run(main())


async def _ignore(event) -> None:
    pass


def summary_of_listen(model_path, audio, tmp_path) -> dict:
    path = tmp_path / "speech.wav"
    path.write_bytes(wav_bytes(audio, 16000))
    result = subprocess.run(
        [sys.executable, "-m", "streamser", "listen", str(path), "--model", str(model_path),
         "--format", "jsonl"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(result.stdout.splitlines()[-1])


def test_every_entry_point_ends_with_the_same_summary_shape(
    loaded_model, untrained_model, tmp_path
):
    audio = conversation(DURATIONS)
    summaries = {
        "StreamRecognizer": summary_of_stream_recognizer(loaded_model, audio),
        "iter_events": summary_of_iter_events(loaded_model, audio),
        "serve": summary_of_a_call(loaded_model, audio),
        "listen": summary_of_listen(untrained_model, audio, tmp_path),
    }
    shapes = {name: shape(summary) for name, summary in summaries.items()}
    reference = shapes.pop("listen")
    for name, other in shapes.items():
        assert other == reference, name
    assert set(reference["model"]) == {"name", "sha256", "path"}
    assert set(reference["options"]) == {"input", "segmenter", "ood", "ring_s", "stats_interval_s"}
    kinds = {name: s["options"]["input"]["kind"] for name, s in summaries.items()}
    assert kinds == {
        "StreamRecognizer": "push", "iter_events": "file", "serve": "native", "listen": "file"
    }  # fmt: skip
    for summary in summaries.values():
        assert summary["totals"]["segmented"] == len(DURATIONS)


def test_the_latency_record_counts_recognised_utterances_only():
    record = LatencyRecord()
    for status, label, latency in [
        ("ok", "sad", 10.0),
        ("dropped", None, 0.0),
        ("uncertain", None, 30.0),
    ]:
        record.add(UtteranceEvent(start=0, end=1, status=status, label=label, latency_ms=latency))
    stats = record.stats()
    assert (stats.count, stats.p50, stats.max) == (2, 20.0, 30.0)


@pytest.mark.parametrize(
    "field, value",
    [("ring_s", math.nan), ("ring_s", math.inf), ("ring_s", 1e12), ("stats_interval_s", math.nan),
     ("stats_interval_s", math.inf), ("stats_interval_s", -1.0)],
)  # fmt: skip
def test_options_refuse_values_no_run_could_use(field, value):
    with pytest.raises(ValueError, match=field):
        RecognizerOptions(**{field: value})
