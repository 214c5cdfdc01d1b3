"""Test clients for the three protocols, written from each platform's published format.

They build the message sequences a platform sends (`*_messages`), replay them
over a real socket, and collect what the server sends back. `make_sessions()`
writes the recorded sample sessions in tests/data/.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import numpy as np
from support.speech import conversation, quiet, to_int16
from websockets.asyncio.client import connect

from streamser.audio.g711 import mulaw_encode

DATA = Path(__file__).resolve().parents[2] / "data"
RATE = 8000
CHUNK = 160  # 20 ms at 8 kHz, as Twilio and AudioHook send


def two_channels(seconds_a=(1.4,), seconds_b=(1.2, 1.0), seed=0) -> np.ndarray:
    """[frames, 2] int16 at 8 kHz: channel 0 and channel 1 speak at different times."""
    a = conversation(list(seconds_a), gap_s=0.8, lead_s=0.4, rate=RATE, seed=seed)
    b = conversation(list(seconds_b), gap_s=0.8, lead_s=2.2, rate=RATE, seed=seed + 7)
    n = max(len(a), len(b))
    rng = np.random.default_rng(seed)
    a = np.concatenate([a, quiet((n - len(a)) / RATE, rng, RATE)])
    b = np.concatenate([b, quiet((n - len(b)) / RATE, rng, RATE)])
    return np.stack([to_int16(a), to_int16(b)], axis=1)


def native_messages(audio: np.ndarray, stream_id="call-1", channels=("agent", "customer")):
    yield json.dumps(
        {
            "type": "start",
            "stream_id": stream_id,
            "encoding": "mulaw",
            "sample_rate": RATE,
            "channels": list(channels),
        }
    )
    codes = mulaw_encode(audio.reshape(-1)).tobytes()
    step = CHUNK * audio.shape[1]
    for offset in range(0, len(codes), step):
        yield codes[offset : offset + step]
    yield json.dumps({"type": "stop"})


def twilio_messages(audio: np.ndarray, call_sid="CA00000000000000000000000000000001", token=None):
    """Twilio Media Streams: connected, start, media per track every 20 ms, mark, stop."""
    stream_sid = "MZ00000000000000000000000000000001"
    seq = 1
    yield {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    params = {"agent": "A-7"} | ({"token": token} if token else {})
    yield {
        "event": "start",
        "sequenceNumber": str(seq),
        "start": {
            "streamSid": stream_sid,
            "accountSid": "AC00000000000000000000000000000001",
            "callSid": call_sid,
            "tracks": ["inbound", "outbound"],
            "customParameters": params,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
        "streamSid": stream_sid,
    }
    # inbound (the caller) is channel 1 (customer), outbound channel 0 (agent)
    for chunk, offset in enumerate(range(0, len(audio), CHUNK), start=1):
        for track, column in (("inbound", 1), ("outbound", 0)):
            seq += 1
            payload = mulaw_encode(audio[offset : offset + CHUNK, column]).tobytes()
            yield {
                "event": "media",
                "sequenceNumber": str(seq),
                "media": {
                    "track": track,
                    "chunk": str(chunk),
                    "timestamp": str(offset * 1000 // RATE),
                    "payload": base64.b64encode(payload).decode(),
                },
                "streamSid": stream_sid,
            }
    seq += 1
    yield {
        "event": "mark",
        "sequenceNumber": str(seq),
        "streamSid": stream_sid,
        "mark": {"name": "end"},
    }
    seq += 1
    yield {
        "event": "stop",
        "sequenceNumber": str(seq),
        "streamSid": stream_sid,
        "stop": {"accountSid": "AC00000000000000000000000000000001", "callSid": call_sid},
    }


SESSION_ID = "e160e428-53e2-487c-977d-96989bf5c99d"
ORG_ID = "d7934305-0972-4844-938e-9060eef73d05"


def _position(frames: int) -> str:
    return f"PT{frames / RATE:g}S"


def audiohook_messages(audio: np.ndarray):
    """AudioHook v2 client side: open, audio (external, internal interleaved), ping, close."""
    seq = 0

    def message(kind, parameters, frames):
        nonlocal seq
        seq += 1
        return {
            "version": "2",
            "id": SESSION_ID,
            "type": kind,
            "seq": seq,
            "serverseq": 0,
            "position": _position(frames),
            "parameters": parameters,
        }

    yield message(
        "open",
        {
            "organizationId": ORG_ID,
            "conversationId": "090eaa2f-72fa-480a-83e0-8667ff89c0ec",
            "participant": {
                "id": "883efee8-3d6c-4537-b500-6d7ca4b92fa0",
                "ani": "+1-555-555-1234",
                "aniName": "John Doe",
                "dnis": "+1-800-555-6789",
            },
            "media": [
                {
                    "type": "audio",
                    "format": "L16",
                    "channels": ["external", "internal"],
                    "rate": 16000,
                },
                {
                    "type": "audio",
                    "format": "PCMU",
                    "channels": ["external", "internal"],
                    "rate": 8000,
                },
            ],
            "language": "en-US",
        },
        0,
    )
    # external (the customer) is channel 1, internal (the agent) channel 0
    ordered = audio[:, [1, 0]]
    for offset in range(0, len(audio), CHUNK):
        yield mulaw_encode(ordered[offset : offset + CHUNK].reshape(-1)).tobytes()
        if offset == 50 * CHUNK:
            yield message("ping", {}, offset)
    yield message("close", {"reason": "end"}, len(audio))


def save_session(path: Path, messages) -> None:
    """One line per message: {"text": ...} or {"binary": base64}."""
    with path.open("w") as out:
        for m in messages:
            if isinstance(m, bytes):
                out.write(json.dumps({"binary": base64.b64encode(m).decode()}) + "\n")
            else:
                out.write(json.dumps({"text": m if isinstance(m, str) else json.dumps(m)}) + "\n")


def load_session(path: Path) -> list[str | bytes]:
    messages: list[str | bytes] = []
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        messages.append(base64.b64decode(entry["binary"]) if "binary" in entry else entry["text"])
    return messages


def make_sessions() -> None:
    """Writes tests/data/{native,twilio,audiohook}_session.jsonl."""
    audio = two_channels()
    DATA.mkdir(exist_ok=True)
    save_session(DATA / "native_session.jsonl", native_messages(audio))
    save_session(DATA / "twilio_session.jsonl", twilio_messages(audio))
    save_session(DATA / "audiohook_session.jsonl", audiohook_messages(audio))


async def replay(url, messages, headers=None, pace_s=0.0, read_until_close=True, ssl=None):
    """Sends messages, then reads everything the server sends until it closes."""
    received: list[str] = []
    async with connect(url, additional_headers=headers, max_size=2**22, ssl=ssl) as ws:

        async def reader():
            try:
                async for m in ws:
                    received.append(m)
            except Exception:
                pass

        task = asyncio.ensure_future(reader())
        for m in messages:
            await ws.send(m if isinstance(m, (str, bytes)) else json.dumps(m))
            if pace_s:
                await asyncio.sleep(pace_s)
        if read_until_close:
            await asyncio.wait_for(task, 30)
        else:
            task.cancel()
        close_code = ws.close_code
    return [json.loads(m) for m in received], close_code


if __name__ == "__main__":
    make_sessions()
