"""The microphone path end to end: PyAudio recording from a PulseAudio null sink.

Each test starts its own PulseAudio daemon: a null sink whose
monitor is the default input, so whatever `paplay` plays into the sink is what
the microphone hears, sample for sample. No sound card and no running audio
server are needed; the daemon lives in a temporary directory and is killed at
the end.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.audio import wav_bytes
from support.speech import RATE, SENTENCES, espeak, spoken_conversation

from streamser import Recognizer
from streamser.events import ErrorEvent, SummaryEvent, UtteranceEvent
from streamser.segmenter import SegmenterOptions
from streamser.sources.mic import DeviceLostError, MicSource, list_input_devices


class Pulse:
    """A private PulseAudio daemon with a 16 kHz mono null sink."""

    def __init__(self, runtime: Path) -> None:
        self.env = {**os.environ, "PULSE_RUNTIME_PATH": str(runtime), "HOME": str(runtime)}
        subprocess.run(
            [
                "pulseaudio", "-D", "--exit-idle-time=-1", "-n",
                "--load=module-native-protocol-unix",
                "--load=module-null-sink sink_name=vsink rate=16000 channels=1",
            ],
            env=self.env, check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        for _ in range(100):
            if self.run("pactl", "info").returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("pulseaudio did not come up")

    def run(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(command, env=self.env, capture_output=True, timeout=timeout)

    def play(self, path: Path) -> None:
        result = self.run("paplay", str(path))
        assert result.returncode == 0, result.stderr

    def kill(self) -> None:
        self.run("pulseaudio", "-k")

    def wait_for_recording(self, timeout_s: float = 60.0) -> None:
        """Returns once a client records from the daemon (a PyAudio stream is live)."""
        deadline = time.monotonic() + timeout_s
        while self.run("pactl", "list", "short", "source-outputs").stdout.strip() == b"":
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing recorded from pulseaudio within {timeout_s} s")
            time.sleep(0.1)


@pytest.fixture
def pulse(tmp_path, monkeypatch):
    server = Pulse(tmp_path / "pulse")
    # PortAudio's ALSA pulse plugin in this process finds the daemon through these.
    for key in ("PULSE_RUNTIME_PATH", "HOME"):
        monkeypatch.setenv(key, server.env[key])
    yield server
    server.kill()


PAUSE_S = 0.8
"""The pause between the sentences of `spoken_wav` (`spoken_conversation`'s default)."""


@pytest.fixture(scope="module")
def spoken_wav(tmp_path_factory) -> Path:
    # No room tone: the sink's monitor is digital silence until something plays,
    # and webrtcvad reads a jump from zeros to noise as speech.
    path = tmp_path_factory.mktemp("mic") / "spoken.wav"
    path.write_bytes(wav_bytes(spoken_conversation(gap_s=PAUSE_S, room_tone=False), RATE))
    return path


def streamser(*args: str, env: dict, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "streamser", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def test_devices_lists_the_pulse_input(pulse):
    names = [d.name for d in list_input_devices()]
    assert "default" in names and "pulse" in names
    process = streamser("devices", env=pulse.env)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert b"pulse" in out and b"Hz" in out


def test_the_microphone_hears_what_the_file_path_hears(pulse, bundled_model, spoken_wav):
    # The trained model: its labels differ between utterances, so equal labels mean something.
    with Recognizer(bundled_model) as recognizer:
        from_file = [e for e in recognizer.iter_events(spoken_wav) if isinstance(e, UtteranceEvent)]
        with MicSource(device="default") as source:
            assert source.format.sample_rate_hz == RATE
            next(source.blocks())  # the first read blocks until the stream is live
            with recognizer.start(source) as run:
                pulse.play(spoken_wav)
                time.sleep(1.0)  # the hangover of the last sentence
                run.stop()
                events = list(run.events())
    from_mic = [e for e in events if isinstance(e, UtteranceEvent)]
    assert len(from_file) == len(from_mic) == len(SENTENCES)
    # The microphone starts listening a moment before the playback begins, by however
    # long the machine took between the two: its times carry that lead. Once aligned on
    # it, the mic path cuts each utterance within a frame or two of the file path, so
    # the model hears nearly the same audio. A speaker-normalised stream carries those
    # small differences into later utterances, so scores are compared by rank, not value:
    # the mic's label is one of the file path's two likeliest, and the same wherever the
    # file path's decision is clear.
    lead = from_mic[0].start - from_file[0].start
    assert lead > -0.1
    for mic, file in zip(from_mic, from_file, strict=True):
        assert abs(mic.start - lead - file.start) <= 0.1 and abs(mic.end - lead - file.end) <= 0.1
        ranked = sorted(file.scores, key=file.scores.get, reverse=True)
        mic_top = max(mic.scores, key=mic.scores.get)
        assert mic_top in ranked[:2]
        if file.scores[ranked[0]] - file.scores[ranked[1]] > 0.5:
            assert mic_top == ranked[0]
    assert all(e.status in ("ok", "uncertain") for e in from_mic)
    summary = events[-1]
    assert isinstance(summary, SummaryEvent) and summary.status == "stopped"
    counts = summary.streams["ch0"]
    assert counts.segmented == counts.ok + counts.uncertain + counts.dropped == len(SENTENCES)
    assert all(e.latency_ms >= 0 for e in from_mic)


def test_unknown_device_is_a_one_line_usage_error(pulse, untrained_model):
    for device, message in (
        ("no-such-mic", b"no input device matches 'no-such-mic' (inputs: "),
        ("99", b"no input device with index 99"),
    ):
        process = streamser(
            "listen", "--device", device, "--model", str(untrained_model), env=pulse.env
        )
        _, err = process.communicate(timeout=60)
        assert process.returncode == 2
        lines = err.decode().strip().splitlines()
        assert len(lines) == 1 and message in err, err


def test_a_device_that_disappears_ends_the_run_with_an_error_and_a_summary(
    pulse, untrained_model, spoken_wav
):
    process = streamser(
        "listen", "--device", "default", "--format", "jsonl", "--model", str(untrained_model),
        env=pulse.env,
    )  # fmt: skip
    lines: queue.Queue[bytes] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True)
    reader.start()
    player = None
    try:
        pulse.wait_for_recording()
        player = subprocess.Popen(["paplay", str(spoken_wav)], env=pulse.env)
        first = json.loads(lines.get(timeout=60))  # the first sentence has ended
        assert first["type"] == "utterance"
        # The event comes a hangover after the sentence; the second begins a pause after
        # it. Cut the device off halfway through the second.
        text, pitch, speed = SENTENCES[1]
        second_s = len(espeak(text, pitch=pitch, speed=speed)) / RATE
        time.sleep(PAUSE_S - SegmenterOptions().hangover_ms / 1000 + second_s / 2)
        pulse.kill()
        process.wait(timeout=30)
        err = process.stderr.read()
    finally:
        for child in (process, player):
            if child is not None and child.poll() is None:
                child.kill()
                child.wait()
    assert process.returncode == 1, err
    reader.join(timeout=30)  # the process has exited: its output ends
    events = [first] + [json.loads(line) for line in list(lines.queue)]
    assert [e["type"] for e in events][-2:] == ["error", "summary"]
    assert "stopped delivering audio" in events[-2]["message"]
    summary = events[-1]
    # The first sentence ended; the second was cut off and still got its event.
    assert summary["status"] == "failed" and summary["totals"]["segmented"] == 2
    counts = summary["totals"]
    assert counts["segmented"] == counts["ok"] + counts["uncertain"] + counts["dropped"]
    assert b"streamser listen: error: input device 'default' stopped delivering audio" in err


def test_device_lost_is_reported_through_the_api(pulse, loaded_model):
    with Recognizer(loaded_model) as recognizer, MicSource() as source:
        next(source.blocks())
        with recognizer.start(source) as run:
            pulse.kill()
            events = list(run.events())
    assert isinstance(events[-2], ErrorEvent) and isinstance(run.error, DeviceLostError)
    assert events[-1].status == "failed"
