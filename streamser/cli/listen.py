"""`streamser listen`: recognise emotion in a microphone, a file, a pipe or the demo.

On a terminal, a live dashboard (rolling per-emotion traces, level and speech
meters, latency and drop counters; keys q quit, p pause, c clear); with --format
text a line per utterance; JSON Lines (one event per line, see streamser.events) when the
output is a pipe or a file or with --format jsonl. Ctrl-C, SIGTERM (or q) closes the
open utterance, prints the last events and the summary, and exits 0, even when the
input is an idle pipe; a second Ctrl-C or SIGTERM exits at once.

Exit codes: 0 ok, 1 runtime failure (a device that went away, output that cannot be
written), 2 usage or input error.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from typing import TextIO

from streamser.cli.audio_args import add_input_options, channel_mode_from, raw_format_from
from streamser.cli.command import Command
from streamser.cli.exit_codes import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from streamser.errors import StreamserError
from streamser.metadata import OOD_METHODS
from streamser.model import EmotionModel, ModelOptions
from streamser.ood import OodOptions
from streamser.recognizer import Recognizer, RecognizerOptions
from streamser.runtime import Run
from streamser.segmenter import SegmenterOptions
from streamser.sinks import EventSink, FanOut, JsonlSink, TextSink
from streamser.sources.base import Source
from streamser.vad import VAD_KINDS, VadOptions

_SEGMENTER = SegmenterOptions()
_VAD = VadOptions()
_OOD = OodOptions()


def configure(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("input (default: the microphone)")
    source.add_argument(
        "input", nargs="?", help="audio file (WAV, FLAC, ...), or - for standard input"
    )
    source.add_argument(
        "--demo", action="store_true", help="the bundled demo recording (no microphone needed)"
    )
    source.add_argument(
        "--device",
        metavar="DEV",
        help="microphone by index or name substring (see `streamser devices`)",
    )
    source.add_argument(
        "--realtime",
        action="store_true",
        help="play a file at real time, like a microphone (default: as fast as possible)",
    )
    add_input_options(parser)

    output = parser.add_argument_group("output")
    output.add_argument(
        "--format",
        choices=("tui", "text", "jsonl"),
        help="tui (live dashboard), text (a line per utterance) or jsonl; "
        "default: tui on a terminal, else jsonl",
    )
    output.add_argument("-o", "--output", metavar="FILE", help="write the events to FILE")
    output.add_argument(
        "--stats-interval",
        type=float,
        default=10.0,
        metavar="S",
        help="a stats event every S seconds of audio (0: none; default 10)",
    )

    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        metavar="NAME|PATH",
        help="fast (the default), accurate (see `streamser models`) or an ONNX model file",
    )
    model.add_argument("--threads", type=int, default=1, help="inference threads (default 1)")
    model.add_argument("--gpu", action="store_true", help="run on CUDA (needs onnxruntime-gpu)")
    model.add_argument(
        "--ood-method",
        choices=OOD_METHODS,
        help="OOD score method (default: the model's calibrated one)",
    )
    model.add_argument(
        "--ood-tpr",
        type=float,
        metavar="T",
        help="accept this share of in-distribution speech (default: the model's calibration)",
    )
    model.add_argument(
        "--min-voiced",
        type=float,
        default=_OOD.min_voiced_share,
        metavar="SHARE",
        help="call utterances with fewer voiced frames not speech, 0 to 1; 0: never "
        f"(default {_OOD.min_voiced_share})",
    )

    vad = parser.add_argument_group("segmentation")
    vad.add_argument("--vad", choices=VAD_KINDS, default=_VAD.kind, help="speech detector")
    vad.add_argument(
        "--aggressiveness",
        type=int,
        default=_VAD.aggressiveness,
        help=f"webrtcvad mode 0-3 (default {_VAD.aggressiveness})",
    )
    for name, help_text in (
        ("pre_roll_ms", "audio kept before the speech onset"),
        ("hangover_ms", "mostly-silent audio that ends an utterance"),
        ("min_speech_ms", "shortest speech that makes an utterance"),
        ("max_utterance_ms", "longer speech is cut into pieces of this length"),
    ):
        default = getattr(_SEGMENTER, name)
        vad.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=default,
            metavar="MS",
            help=f"{help_text} (default {default})",
        )
    vad.add_argument(
        "--ring-seconds",
        type=float,
        default=60.0,
        metavar="S",
        help="audio buffered per stream for the worker (default 60)",
    )


def run(args: argparse.Namespace) -> int:
    options = _options(args)
    from streamser.models import resolve_model

    model_path = resolve_model(args.model)
    try:
        model_options = ModelOptions(threads=args.threads, gpu=args.gpu)
    except ValueError as error:
        raise StreamserError(str(error)) from None
    recognizer = Recognizer(model_path, options, model_options)
    try:
        with _open_source(args) as source, recognizer:
            run = recognizer.start(source)
            with run, _stop_on_signals(run), _open_sink(args, run, recognizer.model) as sink:
                for event in run.events():
                    sink.emit(event)
    except OutputFailed as error:
        print(f"streamser listen: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    if run.error is None:
        return EXIT_OK
    print(f"streamser listen: error: {run.error}", file=sys.stderr)
    from streamser.sources.mic import DeviceLostError

    if isinstance(run.error, StreamserError) and not isinstance(run.error, DeviceLostError):
        return EXIT_USAGE
    return EXIT_FAILURE


def _options(args: argparse.Namespace) -> RecognizerOptions:
    try:
        return RecognizerOptions(
            segmenter=SegmenterOptions(
                vad=VadOptions(kind=args.vad, aggressiveness=args.aggressiveness),
                pre_roll_ms=args.pre_roll_ms,
                hangover_ms=args.hangover_ms,
                min_speech_ms=args.min_speech_ms,
                max_utterance_ms=args.max_utterance_ms,
            ),
            ood=OodOptions(
                method=args.ood_method, tpr=args.ood_tpr, min_voiced_share=args.min_voiced
            ),
            ring_s=args.ring_seconds,
            stats_interval_s=args.stats_interval,
        )
    except ValueError as error:
        raise StreamserError(str(error)) from None


def _open_source(args: argparse.Namespace) -> Source:
    given = [name for name, on in (("an input", args.input), ("--demo", args.demo)) if on]
    if len(given) > 1 or (given and args.device is not None):
        raise StreamserError("give one of: an input file, --demo, or --device")
    mode = channel_mode_from(args)
    if args.demo or args.input is not None:
        from streamser.sources.file import FileSource

        if args.demo:
            from streamser.data import demo_audio_path

            return FileSource(demo_audio_path(), channel_mode=mode, realtime=args.realtime)
        return FileSource(args.input, raw_format_from(args), mode, realtime=args.realtime)
    if args.raw:
        raise StreamserError("--raw describes a file or standard input; give one (or - for stdin)")
    from streamser.sources.mic import MicSource

    return MicSource(device=args.device, channels=args.channels, channel_mode=mode)


@contextlib.contextmanager
def _open_sink(args: argparse.Namespace, run: Run, model: EmotionModel) -> Iterator[EventSink]:
    stdout_is_terminal = sys.stdout.isatty()
    sinks: list[_Output] = []
    if args.output is not None:
        try:
            handle: TextIO = open(args.output, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as error:
            raise StreamserError(f"{args.output}: cannot write ({error.strerror})") from None
        file_format = args.format if args.format in ("text", "jsonl") else "jsonl"
        sinks.append(_Output(_sink(file_format, handle, close_stream=True), args.output))
        if stdout_is_terminal:
            screen = "text" if args.format == "text" else "tui"
            sinks.append(_Output(_sink(screen, sys.stdout, False, (run, model)), STDOUT))
    else:
        fmt = args.format or ("tui" if stdout_is_terminal else "jsonl")
        sinks.append(_Output(_sink(fmt, sys.stdout, False, (run, model)), STDOUT))
    try:
        yield FanOut(sinks)
    except BaseException:
        _close_all(sinks)  # the first failure is the one on its way out
        raise
    failure = _close_all(sinks)
    if failure is not None:
        raise failure


STDOUT = "<stdout>"


class OutputFailed(Exception):
    """The events cannot be written (a full disk, a device gone): a runtime failure, exit 1."""


class _Output:
    """A sink whose write errors name the output; a reader that went away is no failure."""

    def __init__(self, sink: EventSink, name: str) -> None:
        self._sink = sink
        self._name = name

    def emit(self, event) -> None:
        with self._named_errors():
            self._sink.emit(event)

    def close(self) -> None:
        with self._named_errors():
            self._sink.close()

    @contextlib.contextmanager
    def _named_errors(self) -> Iterator[None]:
        try:
            yield
        except BrokenPipeError:
            raise
        except OSError as error:
            if self._name == STDOUT:
                _discard_stdout()
            reason = error.strerror or str(error)
            raise OutputFailed(f"{self._name}: cannot write the events ({reason})") from None


def _close_all(sinks: list[_Output]) -> OutputFailed | None:
    """Closes every sink (a dashboard must restore the terminal); the first failure, if any."""
    failure = None
    for sink in sinks:
        try:
            sink.close()
        except OutputFailed as error:
            failure = failure or error
    return failure


def _discard_stdout() -> None:
    """Standard output failed: what is still buffered cannot be written at exit either."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _sink(
    fmt: str, stream: TextIO, close_stream: bool, live: tuple[Run, EmotionModel] | None = None
) -> EventSink:
    if fmt == "jsonl":
        return JsonlSink(stream, close_stream)
    if fmt == "tui" and live is not None:
        return _dashboard(*live, stream)
    return TextSink(stream, close_stream)


def _dashboard(run: Run, model: EmotionModel, stream: TextIO) -> EventSink:
    """The live dashboard; rich is imported here only, when a terminal shows it."""
    from streamser.tui.app import TuiSink, terminal_console
    from streamser.tui.state import DashboardState

    state = DashboardState(
        labels=model.metadata.labels,
        stream_names=run.source.stream_names,
        source=run.source.name,
        model=(model.metadata.name, model.short_sha),
    )
    console = terminal_console(stream)
    return TuiSink(state, meters=run.meters, on_quit=run.stop, console=console).start()


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""Ctrl-C, and what `timeout`, `docker stop` and systemd send: both end the run gracefully."""


@contextlib.contextmanager
def _stop_on_signals(run: Run) -> Iterator[None]:
    """First Ctrl-C or SIGTERM: stop gracefully (last events and the summary still come).

    A second one ends the process at once, until it exits: the default action is
    left in place once the first has come.
    """
    received = []

    def stop(signum, _frame) -> None:
        received.append(signum)
        for number in STOP_SIGNALS:
            signal.signal(number, signal.SIG_DFL)
        run.stop()

    try:
        previous = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        yield
        return
    try:
        yield
    finally:
        if not received:
            for number, handler in previous.items():
                signal.signal(number, handler)


COMMAND = Command(
    name="listen",
    help="recognise emotion in a microphone, a file, a pipe or the demo recording",
    configure=configure,
    run=run,
    description=__doc__,
)
