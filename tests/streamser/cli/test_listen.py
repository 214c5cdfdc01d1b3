"""`streamser listen` as a user meets it: files, pipes, formats, odd inputs and bad ones."""

import contextlib
import errno
import importlib.util
import itertools
import json
import os
import select
import signal
import subprocess
import sys
import time
from subprocess import PIPE

import numpy as np
import pytest
from support.audio import wav_bytes
from support.speech import RATE, SENTENCES, conversation, spoken_conversation

from streamser.audio import AudioFormat, Encoding
from streamser.audio.formats import encode_samples
from streamser.audio.wav import wav_header_bytes

DURATIONS = [1.0, 2.2, 0.8, 1.6]
VOLATILE = ("latency_ms", "elapsed_s", "realtime_factor", "source", "queue_depth")


def listen(*args: str, stdin: bytes | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "streamser", "listen", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
    )


def events_of(result) -> list[dict]:
    assert result.returncode == 0, result.stderr.decode()
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


def stable(events: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in VOLATILE} for e in events]


def check_invariant(summary: dict) -> None:
    assert summary["type"] == "summary"
    for counts in [*summary["streams"].values(), summary["totals"]]:
        assert counts["segmented"] == counts["ok"] + counts["uncertain"] + counts["dropped"]


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    path.write_bytes(wav_bytes(conversation(DURATIONS), RATE))
    return path


def test_file_and_stdin_give_identical_events(untrained_model, speech_wav):
    model = ["--model", str(untrained_model), "--stats-interval", "2"]
    from_file = events_of(listen(str(speech_wav), *model))
    from_stdin = events_of(listen("-", *model, stdin=speech_wav.read_bytes()))
    assert stable(from_file) == stable(from_stdin)
    kinds = [e["type"] for e in from_file]
    seconds = from_file[-1]["totals"]["audio_s"]
    assert kinds.count("utterance") == len(DURATIONS) and kinds.count("stats") == seconds // 2
    assert kinds[-1] == "summary" and from_stdin[-1]["source"] == "<stdin>"
    check_invariant(from_file[-1])


def test_every_line_is_a_versioned_event_with_a_latency(untrained_model, speech_wav):
    events = events_of(listen(str(speech_wav), "--model", str(untrained_model)))
    for event in events:
        assert event["schema"] == "streamser.event/1"
    for event in (e for e in events if e["type"] == "utterance"):
        assert event["latency_ms"] >= 0 and len(event["model"]) == 12
        assert event["start"] < event["end"]


def test_text_format_and_output_file(untrained_model, speech_wav, tmp_path):
    out = tmp_path / "events.jsonl"
    result = listen(
        str(speech_wav), "--model", str(untrained_model), "--format", "text", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""  # not a terminal: the events went to the file only
    lines = out.read_text().splitlines()
    assert len(lines) == len(DURATIONS) + 1
    assert lines[0].startswith("ch0 00:00.")
    assert lines[-1].startswith("summary (completed): 4 utterances")


def test_raw_mulaw_8khz_stereo_on_stdin_split_into_channels(untrained_model):
    agent = conversation([1.0, 1.4], rate=8000, seed=3)
    customer = conversation([2.0], lead_s=1.2, rate=8000, seed=4)
    n = max(len(agent), len(customer))
    stereo = np.stack(
        [np.pad(agent, (0, n - len(agent))), np.pad(customer, (0, n - len(customer)))], 1
    )
    raw = encode_samples(stereo, Encoding.MULAW)
    args = ["--raw", "--rate", "8000", "--encoding", "mulaw", "--channels", "2"]
    split = events_of(
        listen("-", *args, "--channel-mode", "split", "--model", str(untrained_model), stdin=raw)
    )
    summary = split[-1]
    assert summary["streams"]["ch0"]["segmented"] == 2
    assert summary["streams"]["ch1"]["segmented"] == 1
    check_invariant(summary)
    wav = wav_bytes(stereo, 8000, Encoding.MULAW)
    mixed = events_of(listen("-", "--model", str(untrained_model), stdin=wav))
    assert list(mixed[-1]["streams"]) == ["mix"]
    check_invariant(mixed[-1])


def test_silence_only_gives_only_the_summary(untrained_model, tmp_path):
    path = tmp_path / "silence.wav"
    path.write_bytes(wav_bytes(np.zeros(RATE * 10, dtype=np.float32), RATE))
    events = events_of(listen(str(path), "--model", str(untrained_model), "--stats-interval", "0"))
    assert [e["type"] for e in events] == ["summary"]
    assert events[0]["totals"]["segmented"] == 0 and events[0]["totals"]["audio_s"] == 10.0


def test_noise_only_stays_bounded_and_accounted(untrained_model, tmp_path):
    noise = 0.3 * np.random.default_rng(0).standard_normal(RATE * 20)
    path = tmp_path / "noise.wav"
    path.write_bytes(wav_bytes(np.clip(noise, -1, 1).astype(np.float32), RATE))
    events = events_of(listen(str(path), "--model", str(untrained_model)))
    check_invariant(events[-1])
    for event in (e for e in events if e["type"] == "utterance"):
        assert event["end"] - event["start"] <= 8.0


def test_a_tenth_of_a_second_is_too_short_for_anything(untrained_model, tmp_path):
    path = tmp_path / "short.wav"
    path.write_bytes(wav_bytes(conversation([0.1], lead_s=0.0, gap_s=0.0), RATE))
    events = events_of(listen(str(path), "--model", str(untrained_model)))
    assert [e["type"] for e in events] == ["summary"]


def test_ten_minutes_of_speech(untrained_model, tmp_path):
    rng = np.random.default_rng(7)
    durations = [*np.round(rng.uniform(0.8, 4.0, 250), 2), 20.0]
    path = tmp_path / "long.wav"
    audio = conversation(durations, seed=7)
    assert len(audio) / RATE > 600
    path.write_bytes(wav_bytes(audio, RATE))
    events = events_of(listen(str(path), "--model", str(untrained_model)))
    summary = events[-1]
    check_invariant(summary)
    utterances = [e for e in events if e["type"] == "utterance"]
    # The 20 s monologue is cut into three pieces of at most 8 s.
    assert max(e["end"] - e["start"] for e in utterances) <= 8.0
    assert len(utterances) == len(durations) + 2 == summary["totals"]["segmented"]
    assert summary["totals"]["dropped"] == 0
    assert [e["seq"] for e in utterances] == list(range(len(utterances)))
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(utterances))
    stats = [e for e in events if e["type"] == "stats"]
    assert len(stats) == int(summary["totals"]["audio_s"] // 10)


@pytest.mark.skipif(
    importlib.util.find_spec("silero_vad") is None,
    reason="needs silero-vad, which bin/setup test installs without its torch dependency",
)
def test_silero_vad_agrees_with_webrtcvad_on_spoken_sentences(untrained_model, tmp_path):
    path = tmp_path / "spoken.wav"
    path.write_bytes(wav_bytes(spoken_conversation(), RATE))
    counts = {}
    for vad in ("webrtc", "silero"):
        events = events_of(listen(str(path), "--model", str(untrained_model), "--vad", vad))
        assert events[-1]["options"]["segmenter"]["vad"]["kind"] == vad
        counts[vad] = events[-1]["totals"]["segmented"]
    assert counts == {"webrtc": len(SENTENCES), "silero": len(SENTENCES)}


def one_line_error(result, message: bytes) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert message in result.stderr, result.stderr
    assert b"Traceback" not in result.stderr


def test_model_errors_are_one_line_and_exit_2(
    loaded_model, untrained_model, model_without_metadata, rewrite_metadata, speech_wav, tmp_path
):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"this is not a model")
    metadata = {**json.loads(loaded_model.metadata.to_json()), "max_seconds": 0}
    no_input = rewrite_metadata(untrained_model, tmp_path / "zero.onnx", json.dumps(metadata))
    cases = [
        (tmp_path / "missing.onnx", b"missing.onnx: no such model file"),
        (corrupt, b"corrupt.onnx: not a loadable ONNX model"),
        (model_without_metadata, b"no streamser metadata"),
        ("/dev/zero", b"/dev/zero: not a regular file, expected an .onnx model file"),
        (no_input, b"zero.onnx: metadata 'max_seconds' must be within one sample and 600"),
    ]
    for model, message in cases:
        one_line_error(listen(str(speech_wav), "--model", str(model)), message)


def test_input_errors_are_one_line_and_exit_2(untrained_model, speech_wav):
    model = ["--model", str(untrained_model)]
    one_line_error(listen("-", *model, stdin=b"ID3\x03garbage"), b"<stdin>: byte 0: not a WAV")
    one_line_error(listen("-", *model, stdin=b""), b"<stdin>: byte 0: empty input")
    one_line_error(
        listen(str(speech_wav), *model, "--ood-method", "knn"),
        b"no in-distribution quantiles for OOD method 'knn'",
    )
    one_line_error(
        listen(str(speech_wav), *model, "--max-utterance-ms", "20000", "--ring-seconds", "10"),
        b"ring_s 10.0 is too small",
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--threads", "0"], b"threads must be within 1..256, got 0"),
        (["--threads", "100000"], b"threads must be within 1..256, got 100000"),
        (["--ring-seconds", "nan"], b"ring_s must be at most 600 seconds, not nan"),
        (["--ring-seconds", "inf"], b"ring_s must be at most 600 seconds, not inf"),
        (["--ring-seconds", "1e12"], b"ring_s must be at most 600 seconds"),
        (["--stats-interval", "nan"], b"stats_interval_s must be finite, not nan"),
        (["--stats-interval", "inf"], b"stats_interval_s must be finite, not inf"),
        (["--min-voiced", "1.5"], b"minimum voiced share 1.5 is outside [0, 1]"),
        (["--min-voiced", "nan"], b"minimum voiced share nan is outside [0, 1]"),
    ],
)
def test_bad_option_values_are_one_line_and_exit_2(untrained_model, speech_wav, option, message):
    one_line_error(listen(str(speech_wav), "--model", str(untrained_model), *option), message)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("to", ["-o", "stdout"])
def test_output_that_cannot_be_written_is_a_one_line_runtime_failure(
    untrained_model, speech_wav, to
):
    args = [str(speech_wav), "--model", str(untrained_model)]
    with open("/dev/full", "wb") as full:
        if to == "-o":
            result = listen(*args, "-o", "/dev/full")
        else:
            result = subprocess.run(
                [sys.executable, "-m", "streamser", "listen", *args],
                stdout=full,
                stderr=PIPE,
                timeout=120,
            )
    name = "/dev/full" if to == "-o" else "<stdout>"
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        f"streamser listen: error: {name}: cannot write the events (No space left on device)"
    ]


def test_stdin_that_breaks_mid_stream_warns_once_and_completes(untrained_model):
    audio = conversation([1.0, 2.0])[: int(RATE * 3.0)]  # ends inside the second utterance
    raw = encode_samples(audio, Encoding.PCM_S16) + b"\x01"  # and inside a sample
    result = listen("-", "--raw", "--model", str(untrained_model), stdin=raw)
    [warning] = result.stderr.decode().strip().splitlines()
    assert "<stdin>: truncated input: the last 1 bytes (from byte 96000)" in warning
    events = events_of(result)
    assert [e["type"] for e in events] == ["utterance", "utterance", "summary"]
    assert events[-1]["status"] == "completed" and events[-1]["totals"]["audio_s"] == 3.0
    check_invariant(events[-1])


def test_a_wav_cut_mid_sample_completes_like_one_cut_on_a_sample_boundary(
    untrained_model, speech_wav, tmp_path
):
    whole = speech_wav.read_bytes()
    runs = []
    for cut in (0, 1):
        path = tmp_path / f"cut-{cut}.wav"
        path.write_bytes(whole[: 44 + 2 * RATE * 3 + cut])
        result = listen(str(path), "--model", str(untrained_model))
        [warning] = result.stderr.decode().strip().splitlines()
        assert f"{path}: truncated input: the data chunk declares" in warning
        assert ("partial 2-byte frame" in warning) == bool(cut)
        runs.append(stable(events_of(result)))
    assert runs[0] == runs[1]
    assert runs[0][-1]["status"] == "completed" and runs[0][-1]["totals"]["audio_s"] == 3.0


def test_no_bundled_demo_conflicts(untrained_model, speech_wav):
    result = listen(str(speech_wav), "--demo", "--model", str(untrained_model))
    one_line_error(result, b"give one of: an input file, --demo, or --device")


def test_the_demo_runs_the_whole_pipeline(untrained_model):
    from streamser.data import demo_audio_path

    segments = json.loads(demo_audio_path().with_suffix(".json").read_text())["segments"]
    events = events_of(listen("--demo", "--model", str(untrained_model)))
    utterances = [e for e in events if e["type"] == "utterance"]
    assert len(utterances) == len(segments) == 4
    for event, segment in zip(utterances, segments, strict=True):
        assert event["start"] <= segment["start_s"] and segment["end_s"] <= event["end"]
    check_invariant(events[-1])


AUDIO_THEN_NOTHING = conversation([1.0, 2.0])[: int(RATE * 3.5)]
"""3.5 s that end inside the second utterance; the writer then stays open and silent."""


def open_writer(fifo, deadline: float) -> int:
    """The FIFO's write end, once `streamser listen` has opened it for reading."""
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:  # ENXIO: no reader yet
            if error.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
            continue
        os.set_blocking(fd, True)
        return fd


def read_event(process: subprocess.Popen, deadline: float) -> dict:
    # stdout is unbuffered (bufsize=0): no line waits in a buffer that select cannot see
    ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
    assert ready, "no event in time"
    line = process.stdout.readline()
    assert line, process.stderr.read().decode()
    return json.loads(line)


@contextlib.contextmanager
def listening_to_an_idle_pipe(model, via: str, tmp_path, *options: str, until: float = 3.0):
    """`streamser listen` on standard input or a named FIFO, fed `AUDIO_THEN_NOTHING`.

    As under `sleep 30 | streamser listen -`, the writer stays open: the read waits.
    Yields the process and the events read so far, up to the stats event at `until` s.
    """
    deadline = time.monotonic() + 60
    command = [sys.executable, "-m", "streamser", "listen", "--model", str(model), *options]
    if via == "stdin":
        read_end, writer = os.pipe()
        process = subprocess.Popen(
            [*command, "-"], stdin=read_end, stdout=PIPE, stderr=PIPE, bufsize=0
        )
        os.close(read_end)
    else:
        fifo = tmp_path / "audio.fifo"
        os.mkfifo(fifo)
        process = subprocess.Popen([*command, str(fifo)], stdout=PIPE, stderr=PIPE, bufsize=0)
        writer = open_writer(fifo, deadline)
    try:
        header = wav_header_bytes(AudioFormat(RATE, 1, Encoding.PCM_S16), data_bytes=None)
        with open(writer, "wb", closefd=False) as pipe:
            pipe.write(header + encode_samples(AUDIO_THEN_NOTHING, Encoding.PCM_S16))
        events = [read_event(process, deadline)]
        while not (events[-1]["type"] == "stats" and events[-1]["time"] >= until):
            events.append(read_event(process, deadline))
        yield process, events
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
        process.stderr.close()
        os.close(writer)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
@pytest.mark.parametrize("via", ["stdin", "fifo"])
def test_a_stop_signal_ends_the_run_gracefully_even_while_the_pipe_is_idle(
    untrained_model, tmp_path, via, stop
):
    with listening_to_an_idle_pipe(untrained_model, via, tmp_path, "--stats-interval", "1") as (
        process,
        events,
    ):
        signalled = time.monotonic()
        process.send_signal(stop)
        out, err = process.communicate(timeout=20)
        took = time.monotonic() - signalled
    assert process.returncode == 0 and err == b"", err.decode()  # no abandoned thread
    assert took < 5, f"{took:.1f} s after the signal, with the writer still open"
    events += [json.loads(line) for line in out.decode().splitlines()]
    kinds = [e["type"] for e in events if e["type"] != "stats"]
    assert kinds == ["utterance", "utterance", "summary"]  # the open utterance is closed
    assert events[-1]["status"] == "stopped"
    check_invariant(events[-1])


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_second_stop_signal_exits_at_once(untrained_model, tmp_path, stop):
    # A stats event every 5 ms of audio (200 kB) fills the output pipe (64 kB), which the test
    # then stops reading: the graceful stop cannot finish, the second signal must end it.
    with listening_to_an_idle_pipe(
        untrained_model, "stdin", tmp_path, "--stats-interval", "0.005", until=0.005
    ) as (process, _):
        time.sleep(1.5)  # the output pipe fills up
        process.send_signal(stop)
        time.sleep(0.5)
        assert process.poll() is None
        process.send_signal(stop)
        assert process.wait(timeout=5) == -stop
