"""The Python API: a recognizer built once, fed frames or sources, yielding events.

```python
from streamser import Recognizer

with Recognizer() as recognizer:                      # the bundled model
    for event in recognizer.iter_events("call.wav"):  # a path, "-" or a Source
        print(event.to_json())
```

Two ways in, one pipeline:

- `Recognizer.stream(name)` returns a `StreamRecognizer` that runs in the caller's
  thread: `process(samples)` returns the events those samples completed (usually
  none), `flush()` ends the input. No threads, no drops; inference happens inside
  `process`, so the caller sets the pace.
- `Recognizer.start(source)` / `iter_events(source)` / `run(source, on_event)` read
  a source in a capture thread, with the ring buffer and bounded queue between it
  and the worker, as the CLI does.

The recognizer holds the one model session; any number of streams and runs share it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from streamser.events import Event, InputInfo, StreamCounts, SummaryEvent, UtteranceEvent
from streamser.model import DEFAULT_MODEL_OPTIONS, EmotionModel, ModelOptions
from streamser.ood import OodGate
from streamser.runtime import Run
from streamser.sources.base import Source
from streamser.streams import DEFAULT_RECOGNIZER_OPTIONS, RecognizerOptions, StreamSet
from streamser.worker import Worker

__all__ = ["Recognizer", "RecognizerOptions", "StreamRecognizer"]


class Recognizer:
    """Speech emotion recognition over any number of streams with one model.

    Args:
        model: A model file, a bundled model's name (`fast`, `accurate`), an already
            loaded `EmotionModel` (to share one session between recognizers), or None
            for the bundled default (`fast`).
        options: Segmenter, VAD, OOD and buffering settings.
        model_options: Threads and provider, when `model` is a path.

    Raises:
        ModelError: The model is missing, invalid, or cannot honour `options.ood`.
    """

    def __init__(
        self,
        model: EmotionModel | str | os.PathLike | None = None,
        options: RecognizerOptions = DEFAULT_RECOGNIZER_OPTIONS,
        model_options: ModelOptions = DEFAULT_MODEL_OPTIONS,
    ) -> None:
        if not isinstance(model, EmotionModel):
            from streamser.models import resolve_model

            model = resolve_model(model)
            model = EmotionModel.load(Path(model), model_options)
        self.model = model
        self.options = options
        self.worker = Worker.for_model(model, options.ood)
        self._runs: list[Run] = []

    @property
    def gate(self) -> OodGate:
        return self.worker.gate

    def stream(self, name: str = "ch0") -> StreamRecognizer:
        """A synchronous recognizer for one stream, run in the caller's thread."""
        return StreamRecognizer(self, name)

    def start(self, source: Source | str | os.PathLike) -> Run:
        """Starts reading `source` in a capture thread; returns the `Run` to iterate.

        A path (or `"-"` for standard input) is opened as a `FileSource`.
        """
        if not isinstance(source, Source):
            from streamser.sources.file import FileSource

            source = FileSource(source)
        run = Run(source, self.worker, self.options)
        self._runs = [r for r in self._runs if r.alive] + [run]
        return run

    def iter_events(self, source: Source | str | os.PathLike) -> Iterator[Event]:
        """Lazy iterator over a source's events, ending with the summary.

        Leaving the loop early stops the capture thread.
        """
        with self.start(source) as run:
            yield from run.events()

    def run(
        self, source: Source | str | os.PathLike, on_event: Callable[[Event], None]
    ) -> SummaryEvent:
        """Calls `on_event` for every event of `source` and returns the summary."""
        summary = None
        for event in self.iter_events(source):
            on_event(event)
            if isinstance(event, SummaryEvent):
                summary = event
        assert summary is not None
        return summary

    def close(self) -> None:
        """Stops any run still going."""
        for run in self._runs:
            run.close()
        self._runs = []

    def __enter__(self) -> Recognizer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class StreamRecognizer:
    """One stream, processed in the caller's thread.

    `process(samples)` takes canonical audio (16 kHz mono; int16, or float in
    [-1, 1]) in blocks of any size and returns the utterance events completed by
    them; the result does not depend on how the audio was cut into blocks.
    `summary()` gives the same summary every other entry point ends with.
    """

    def __init__(self, recognizer: Recognizer, name: str = "ch0") -> None:
        self.name = name
        self._streams = StreamSet(
            name, (name,), recognizer.worker, recognizer.options, InputInfo("push", live=False)
        )
        self._front = self._streams.fronts[0]

    def process(self, samples: np.ndarray) -> list[UtteranceEvent]:
        arrived = time.monotonic()
        jobs = self._front.process(_as_int16(samples), arrived)
        return [self._streams.handle(job) for job in jobs]

    def flush(self) -> list[UtteranceEvent]:
        """End of input: the event of the open utterance, if any."""
        jobs = self._front.flush(time.monotonic())
        return [self._streams.handle(job) for job in jobs]

    def summary(self) -> SummaryEvent:
        """Counts, latency and options so far; call it after `flush()` for the final one."""
        return self._streams.summary("completed")

    def reset(self) -> None:
        """Back to sample 0 with a fresh detector, counters, latency record and speaker
        statistics."""
        self._streams.reset()

    def reset_speaker(self) -> None:
        """Forgets the speaker's statistics and keeps everything else: call it when
        another person takes over the stream (a transfer, a new call on the same
        line). A speaker-normalised model then warms up again from its population
        prior; other models ignore the statistics."""
        self._front.speaker.reset()

    @property
    def speaker_utterances(self) -> float:
        """Utterances in the stream's speaker statistics (0 for models without speaker
        normalisation); fractional once older ones fade. Tells how warmed up it is."""
        return self._front.speaker.count

    @property
    def counts(self) -> StreamCounts:
        """The stream's counters (`segmented == ok + uncertain + dropped`)."""
        return self._front.snapshot()


def _as_int16(samples: np.ndarray) -> np.ndarray:
    array = np.asarray(samples)
    if array.ndim != 1:
        raise ValueError(f"expected mono samples [n], got shape {array.shape}")
    if array.dtype == np.int16:
        return array
    if np.issubdtype(array.dtype, np.floating):
        from streamser.audio.formats import float_to_int16

        return float_to_int16(np.nan_to_num(array))
    raise ValueError(f"samples must be int16 or float, got {array.dtype}")
