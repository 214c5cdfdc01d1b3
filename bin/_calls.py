"""What bin/loadtest and bin/soak share: a `streamser serve` process on loopback and
real-time AudioHook calls against it (8 kHz mu-law, two channels, 20 ms frames).

Not a command: the scripts beside it import it.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

FRAME_S = 0.02
FRAME_BYTES = int(FRAME_S * 8000) * 2
"""One message of a call: 20 ms of 8 kHz mu-law, two channels interleaved."""
API_KEY = "loadtest"
PHASES = 16
"""Calls start at this many evenly spaced points of the demo loop: independent calls do
not end their utterances in lockstep, which would measure bursts, not load."""


def call_audio(seconds: float) -> list[bytes]:
    """The calls' audio: PHASES rotations of the looped demo recording, as stereo mu-law."""
    import numpy as np
    import soundfile
    import soxr

    from streamser.audio.g711 import mulaw_encode
    from streamser.data import demo_audio_path

    speech, rate = soundfile.read(str(demo_audio_path()), dtype="float32", always_2d=True)
    speech = soxr.resample(speech.mean(axis=1), rate, 8000)
    n = int(seconds * 8000)
    rotations = []
    for phase in range(PHASES):
        a = np.resize(np.roll(speech, -phase * len(speech) // PHASES), n)
        b = np.concatenate([np.full(16000, 0.001, dtype=np.float32), a])[:n]
        pcm = np.clip(np.round(np.stack([a, b], axis=1) * 32767), -32768, 32767)
        rotations.append(mulaw_encode(pcm.astype(np.int16).reshape(-1)).tobytes())
    return rotations


async def call(port: int, call_id: str, audio: bytes, start_at: float) -> dict:
    """One call; a connection the server refused or closed (or an overloaded loop lost)
    counts as failed.

    Returns latencies (`latency_ms` of each event), delays (sending the frame that
    ends an utterance to receiving its event), late frames, the utterance events
    received, the summary's totals, and arrivals: when each event came, by
    (stream, seq), the summary's key being ("summary", None).
    """
    from websockets.exceptions import WebSocketException

    try:
        return await _stream_call(port, call_id, audio, start_at)
    except (WebSocketException, OSError, TimeoutError) as error:
        return {"latencies": [], "delays": [], "late_frames": 0, "events": 0, "totals": None,
                "arrivals": {}, "error": f"{type(error).__name__}: {error}"}  # fmt: skip


async def _stream_call(port: int, call_id: str, audio: bytes, start_at: float) -> dict:
    from websockets.asyncio.client import connect

    latencies, delays, late, events, summary = [], [], 0, 0, None
    arrivals: dict[tuple, float] = {}
    began = float("inf")
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    async with connect(
        f"ws://127.0.0.1:{port}/audiohook", additional_headers={"X-API-KEY": API_KEY}
    ) as ws:
        seq = 0

        async def send(kind, parameters):
            nonlocal seq
            seq += 1
            message = {"version": "2", "id": call_id, "type": kind, "seq": seq,
                       "serverseq": 0, "position": "PT0S", "parameters": parameters}  # fmt: skip
            await ws.send(json.dumps(message))

        async def reader():
            nonlocal summary, events
            async for message in ws:
                data = json.loads(message)
                if data["type"] != "event":
                    continue
                for entity in data["parameters"]["entities"]:
                    if entity["type"] == "streamser.utterance":
                        event = entity["data"]
                        arrivals[(event["stream"], event["seq"])] = time.monotonic()
                        events += 1
                        if event["status"] != "dropped":
                            latencies.append(event["latency_ms"])
                        # the frame holding the utterance's end was sent at began + end
                        delays.append(1000 * (time.monotonic() - began - event["end"]))
                    elif entity["type"] == "streamser.summary":
                        arrivals[("summary", None)] = time.monotonic()
                        summary = entity["data"]

        media = {"type": "audio", "format": "PCMU", "channels": ["external", "internal"],
                 "rate": 8000}  # fmt: skip
        await send("open", {"organizationId": "o", "conversationId": call_id,
                            "participant": {}, "media": [media]})  # fmt: skip
        reading = asyncio.ensure_future(reader())
        began = time.monotonic()
        for k, offset in enumerate(range(0, len(audio), FRAME_BYTES)):
            due = began + k * FRAME_S
            now = time.monotonic()
            if now > due + 0.1:
                late += 1
            await asyncio.sleep(max(0.0, due - now))
            await ws.send(audio[offset : offset + FRAME_BYTES])
        await send("close", {"reason": "end"})
        await asyncio.wait_for(reading, 30)
    return {
        "latencies": latencies,
        "delays": delays,
        "late_frames": late,
        "events": events,
        "totals": (summary or {}).get("totals"),
        "arrivals": arrivals,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, extra: list[str], max_connections: int) -> subprocess.Popen:
    """`streamser serve` on loopback with AudioHook open to API_KEY; returns once it listens."""
    command = [sys.executable, "-m", "streamser", "serve", "--port", str(port),
               "--audiohook-api-key", API_KEY, "--max-connections", str(max_connections),
               *extra]  # fmt: skip
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return server
        except OSError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("streamser serve did not start listening within 30 s")


def process_tree(pid: int) -> list[int]:
    """A process and its descendants (the processes of `serve --processes`)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [pid] + [p for child in children for p in process_tree(int(child))]


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its descendants."""
    total = 0.0
    for member in process_tree(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main_thread_cpu_seconds(pid: int) -> float:
    """CPU time of a process's main thread alone, in nanoseconds' precision: for
    `serve`, its event loop (inference runs on other threads)."""
    return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[0]) / 1e9


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, in MB."""
    total_kb = 0
    for member in process_tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
    return total_kb / 1024


def ensure_venv(script: str, root: Path) -> None:
    """Re-executes `script` under the project's virtual environment."""
    venv = Path(os.environ.get("STREAMSER_VENV", root / ".venv"))
    python = venv / "bin" / "python"
    if Path(sys.prefix).resolve() != venv.resolve():
        if not python.exists():
            sys.exit(f"no virtual environment at {venv}: run bin/setup test first")
        os.execv(str(python), [str(python), script, *sys.argv[1:]])
    sys.path.insert(0, str(root))


def start_redis(port: int) -> subprocess.Popen:
    """A throwaway `redis-server` on loopback (nothing saved); returns once it answers."""
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no"]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return server
        except OSError:
            pass
        time.sleep(0.1)
    server.terminate()
    raise RuntimeError("redis-server did not answer within 30 s")


async def follow_events(
    port: int, done: asyncio.Event, records: list, headers: dict | None = None, query: str = ""
) -> list:
    """Appends every record `/v1/events{query}` on `port` sends, as (arrival time,
    record), to `records` until `done` is set; for checking that calls' events
    reached subscribers."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async with connect(
        f"ws://127.0.0.1:{port}/v1/events{query}", additional_headers=headers, max_size=2**22
    ) as ws:
        stop = asyncio.ensure_future(done.wait())
        while True:
            message = asyncio.ensure_future(ws.recv())
            finished, _ = await asyncio.wait({message, stop}, return_when=asyncio.FIRST_COMPLETED)
            if message not in finished:
                message.cancel()
                return records
            try:
                records.append((time.monotonic(), json.loads(message.result())))
            except ConnectionClosed:  # dropped: what it missed counts as lost
                return records
