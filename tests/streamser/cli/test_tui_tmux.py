"""`streamser listen` on a real terminal: the dashboard in tmux, read with capture-pane.

A private tmux server (its own socket, no user configuration) runs the demo at
real time in an 80x24 window; the test reads the screen at two moments, pauses
the display, quits with `q` and checks the summary and the exit status.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (bin/setup test)")

ROOT = Path(__file__).resolve().parents[3]


class Tmux:
    def __init__(self, width: int, height: int, command: str) -> None:
        self.socket = f"streamser-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "TERM": "xterm-256color"}
        env.pop("NO_COLOR", None)
        self._run(
            "new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), command, env=env
        )

    def _run(self, *args: str, env=None) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, "-f", os.devnull, *args],
            capture_output=True, text=True, timeout=10, env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    def screen(self) -> str:
        return self._run("capture-pane", "-p", "-t", "t")

    def keys(self, *keys: str) -> None:
        self._run("send-keys", "-t", "t", *keys)

    def wait_for(self, condition, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting; the screen was:\n{screen}")
            time.sleep(0.1)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


def utterances_on(screen: str) -> int:
    counts = re.search(r"(\d+) ok · (\d+) uncertain · (\d+) dropped", screen)
    return sum(int(n) for n in counts.groups()) if counts else 0


@pytest.fixture
def dashboard(untrained_model):
    listen = [sys.executable, "-m", "streamser", "listen", "--demo", "--realtime",
              "--model", str(untrained_model)]  # fmt: skip
    # After the exit: the status, then any terminal setting left in cbreak mode.
    after = "echo EXIT=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -e -icanon -e -echo; sleep 60"
    command = f"cd {shlex.quote(str(ROOT))} && {shlex.join(listen)}; {after}"
    tmux = Tmux(80, 24, command)
    yield tmux
    tmux.kill()


def test_dashboard_traces_grow_and_q_quits_cleanly(dashboard):
    first = dashboard.wait_for(lambda s: utterances_on(s) >= 1)
    lines = first.rstrip("\n").split("\n")
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    assert "─ ch0 " in first and "level" in first and "dBFS" in first
    assert re.search(r"last  (neutral|happy|angry|sad|\? uncertain) ", first)
    for label in ("neutral", "happy", "angry", "sad"):
        assert re.search(rf"│ {label} +\S", first), label  # a trace row with a column drawn
    assert "demo.wav" in first and "untrained" in first and "latency p50" in first
    assert "q quit" in first
    n = utterances_on(first)

    second = dashboard.wait_for(lambda s: utterances_on(s) > n)
    marks = next(line for line in second.split("\n") if re.fullmatch(r"│ {8,}[a-z?x]+ +│", line))
    assert len(marks.strip("│ ")) == utterances_on(second)  # a column per utterance

    dashboard.keys("p")
    dashboard.wait_for(lambda s: "PAUSED" in s)
    dashboard.keys("p", "q")
    final = dashboard.wait_for(lambda s: "EXIT=" in s)
    assert "EXIT=0" in final
    assert "-icanon" not in final and "-echo" not in final  # the terminal was restored
    assert re.search(r"summary \((stopped|completed)\): \d+ utterances", final)
    assert "─ ch0 " in final and "■ ended" in final  # the last frame stays on screen
