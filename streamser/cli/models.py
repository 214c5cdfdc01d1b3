"""`streamser models`: the bundled models by name, with size, labels, cost and accuracy.

`streamser listen --model NAME` (and `serve`, and `Recognizer("NAME")`) takes any of
the names. The cost is measured here, on this machine: milliseconds of CPU time to
recognise one 3 s utterance on one thread (the median of a few runs; CPU time rather
than wall time, so that other work on a busy machine does not count). The accuracy is what the
model's card reports, read from its evaluation file: EmoDB leave-one-speaker-out UA
over four classes, wideband and through a telephone line, and the UA on EmoDB of the
same recipe trained on synthetic speech only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from streamser.cli.command import Command

COST_SECONDS = 3.0
COST_RUNS = 5


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per model")
    parser.add_argument(
        "--no-timing", action="store_true", help="skip measuring each model's cost here"
    )


def describe(name: str, timing: bool) -> dict:
    """One bundled model as a record; `installed` False when its file is absent."""
    from streamser.errors import ModelError
    from streamser.models import bundled_model_path
    from streamser.models.catalog import bundled, headline

    entry = bundled(name)
    assert entry is not None
    record: dict = {"name": name, "about": entry.about, "installed": False}
    try:
        path = bundled_model_path(name)
    except ModelError as error:
        record["problem"] = str(error)
        return record
    from streamser.model import EmotionModel, ModelOptions

    model = EmotionModel.load(path, ModelOptions(threads=1))
    record |= {
        "installed": True,
        "path": str(path),
        "model": model.metadata.name,
        "sha256": model.short_sha,
        "size_mb": round(path.stat().st_size / 1e6, 1),
        "labels": list(model.labels),
        "card": str(path.with_name(entry.card)),
    }
    evaluation = path.with_name(entry.evaluation)
    if evaluation.is_file():
        record["accuracy"] = headline(json.loads(evaluation.read_text()))
    if timing:
        record["cpu_ms_per_3s_utterance"] = _cost(model)
    return record


def _cost(model) -> float:
    import numpy as np

    from streamser.audio import load_mono
    from streamser.audio.formats import int16_to_float
    from streamser.data import demo_audio_path

    waveform = np.resize(int16_to_float(load_mono(demo_audio_path())), int(COST_SECONDS * 16000))
    model.infer(waveform)
    times = []
    for _ in range(COST_RUNS):
        began = time.thread_time()  # one intra-op thread: ONNX Runtime runs in this one
        model.infer(waveform)
        times.append(1000 * (time.thread_time() - began))
    return round(float(np.median(times)), 1)


def _line(record: dict) -> str:
    if not record["installed"]:
        return f"{record['name']:<9} not installed: {record['problem']}"
    cost = record.get("cpu_ms_per_3s_utterance")
    accuracy = record.get("accuracy", {})

    def number(key: str) -> str:
        value = accuracy.get(key)
        return "-" if value is None else f"{value:.3f}"

    return (
        f"{record['name']:<9} {Path(record['path']).name:<14} {record['size_mb']:>5.1f} MB  "
        f"{'-' if cost is None else f'{cost:.1f} ms':>10}  "
        f"{number('loso_wideband')} / {number('loso_telephone')}  "
        f"{number('synthetic_wideband'):>5}   {', '.join(record['labels'])}"
    )


def run(args: argparse.Namespace) -> int:
    from streamser.models.catalog import MODEL_NAMES

    records = [describe(name, not args.no_timing) for name in MODEL_NAMES]
    if args.json:
        for record in records:
            print(json.dumps(record, separators=(",", ":")))
        return 0
    print(
        f"{'name':<9} {'file':<14} {'size':>8}  {'CPU per 3 s':>10}  {'EmoDB UA (tel)':<13}  "
        f"{'synth':>5}   labels"
    )
    for record in records:
        print(_line(record))
    print(
        "cost: CPU time for one 3 s utterance on one thread, here; EmoDB UA: leave-one-speaker-out,"
        " 4 classes, wideband / telephone; synth: trained on synthetic speech only, tested on"
        " EmoDB. Details: each model's card."
    )
    return 0


COMMAND = Command(
    name="models",
    help="list the bundled models (--model fast|accurate) with size, cost and accuracy",
    configure=configure,
    run=run,
    description=__doc__,
)
