"""`streamser serve --processes N`: real server processes sharing one port."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from clients import native_messages, replay, two_channels


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(port: int, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"no server on port {port}")


def health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        return json.loads(response.read())


def test_processes_share_the_port_serve_calls_and_stop_together():
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamser", "serve", "--port", str(port), "--processes", "2"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(port)
        # SO_REUSEPORT spreads connections by their addresses, so a few dozen reach
        # both processes once both have bound (the second may bind a moment later)
        pids: set[int] = set()
        deadline = time.monotonic() + 60
        while len(pids) < 2 and time.monotonic() < deadline:
            pids |= {health(port)["pid"] for _ in range(20)}
        assert len(pids) == 2 and server.pid not in pids

        async def calls():
            url = f"ws://127.0.0.1:{port}/v1/stream"
            return await asyncio.gather(
                *(replay(url, native_messages(two_channels(), f"call-{i}")) for i in range(4))
            )

        for received, code in asyncio.run(calls()):
            assert code == 1000 and received[-1]["type"] == "summary"
            assert received[-1]["status"] == "completed"
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        for pid in pids:  # every child is gone, not orphaned
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            raise AssertionError(f"server process {pid} outlived the parent")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stderr.close()


def test_processes_need_a_fixed_port():
    done = subprocess.run(
        [sys.executable, "-m", "streamser", "serve", "--port", "0", "--processes", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith("--processes needs a fixed --port (each process binds it)")
    )
    assert "Traceback" not in done.stderr
