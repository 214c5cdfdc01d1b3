"""The public Python API: its signatures, its imports, and that it leaves nothing running."""

import dataclasses
import inspect
import subprocess
import sys
import textwrap
import threading

import streamser
from streamser import (
    OodOptions,
    Recognizer,
    RecognizerOptions,
    SegmenterOptions,
    StreamRecognizer,
    VadOptions,
)
from streamser.model import ModelOptions
from streamser.runtime import Run

SIGNATURES = {
    "Recognizer": "(model: 'EmotionModel | str | os.PathLike | None' = None, options: 'RecognizerOptions' = RecognizerOptions(segmenter=SegmenterOptions(vad=VadOptions(kind='webrtc', aggressiveness=2, silero_threshold=0.5), pre_roll_ms=300, start_window_ms=240, start_ratio=0.6, hangover_ms=300, stop_ratio=0.9, min_speech_ms=300, max_utterance_ms=8000), ood=OodOptions(method=None, tpr=None, min_voiced_share=0.2), ring_s=60.0, stats_interval_s=10.0), model_options: 'ModelOptions' = ModelOptions(threads=1, gpu=False, memory_arena=True, batch=None)) -> 'None'",
    "Recognizer.stream": "(self, name: 'str' = 'ch0') -> 'StreamRecognizer'",
    "Recognizer.start": "(self, source: 'Source | str | os.PathLike') -> 'Run'",
    "Recognizer.iter_events": "(self, source: 'Source | str | os.PathLike') -> 'Iterator[Event]'",
    "Recognizer.run": "(self, source: 'Source | str | os.PathLike', on_event: 'Callable[[Event], None]') -> 'SummaryEvent'",
    "StreamRecognizer.process": "(self, samples: 'np.ndarray') -> 'list[UtteranceEvent]'",
    "StreamRecognizer.flush": "(self) -> 'list[UtteranceEvent]'",
    "StreamRecognizer.reset": "(self) -> 'None'",
    "StreamRecognizer.summary": "(self) -> 'SummaryEvent'",
    "Run.events": "(self) -> 'Iterator[Event]'",
    "Run.stop": "(self) -> 'None'",
}
OPTION_FIELDS = {
    RecognizerOptions: ["segmenter", "ood", "ring_s", "stats_interval_s"],
    SegmenterOptions: [
        "vad", "pre_roll_ms", "start_window_ms", "start_ratio", "hangover_ms", "stop_ratio",
        "min_speech_ms", "max_utterance_ms",
    ],
    VadOptions: ["kind", "aggressiveness", "silero_threshold"],
    OodOptions: ["method", "tpr", "min_voiced_share"],
    ModelOptions: ["threads", "gpu", "memory_arena", "batch"],
}  # fmt: skip


def test_public_signatures_are_stable():
    """A change here is an API change: update the snapshot on purpose, with a shim."""
    objects = {"Recognizer": Recognizer, "StreamRecognizer": StreamRecognizer, "Run": Run}
    for name, expected in SIGNATURES.items():
        owner, _, method = name.partition(".")
        target = getattr(objects[owner], method) if method else objects[owner]
        assert str(inspect.signature(target)) == expected, name


def test_options_are_frozen_dataclasses_with_units_in_their_names():
    for options, fields in OPTION_FIELDS.items():
        assert options.__dataclass_params__.frozen, options
        assert [f.name for f in dataclasses.fields(options)] == fields


def test_the_package_exports_its_api_lazily():
    for name in streamser.__all__:
        assert getattr(streamser, name) is not None


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_recognising_a_file_needs_no_torch_and_no_heavy_modules(untrained_model):
    result = run_python(
        f"""
        import sys
        sys.modules["torch"] = None  # any `import torch` now raises ImportError
        from streamser import Recognizer
        from streamser.data import demo_audio_path
        with Recognizer({str(untrained_model)!r}) as recognizer:
            events = list(recognizer.iter_events(demo_audio_path()))
        print(events[-1].totals.segmented)
        heavy = {{"rich", "soundfile", "pyaudio", "websockets", "training", "soxr"}}
        print(sorted(heavy & set(sys.modules)))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["4", "[]"]


def test_no_thread_outlives_its_run(loaded_model, tmp_path):
    from support.audio import wav_bytes
    from support.speech import conversation

    path = tmp_path / "speech.wav"
    path.write_bytes(wav_bytes(conversation([1.0, 1.0]), 16000))
    before = set(threading.enumerate())
    with Recognizer(loaded_model) as recognizer:
        for _ in range(3):
            list(recognizer.iter_events(path))
    assert set(threading.enumerate()) - before == set()
