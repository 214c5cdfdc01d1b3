"""Valid inputs of every target, kept in the corpus (`bin/fuzz --write-seeds`) so that its
replay is never empty and shows that the harness reaches real work: a decoded file,
a converted stream, calls that get utterances back."""

from __future__ import annotations

import base64
import json

from streamser.audio import Encoding
from support.fuzz.audio_inputs import ENCODINGS, RawCase, sample_wav
from support.fuzz.protocol_inputs import TOKEN, Session, WireCase, speech_bytes


def seed_inputs() -> dict[str, list[bytes]]:
    """Valid inputs of every target, kept in the corpus so its replay is never empty."""

    speech = {e: speech_bytes(e) for e in (Encoding.PCM_S16, Encoding.MULAW)}
    mulaw = speech[Encoding.MULAW]
    return {
        "wav": [sample_wav()],
        "raw": [
            RawCase(
                ENCODINGS.index(Encoding.PCM_S16), 2, 44100, 1, 100, bytes(range(256)) * 4
            ).encode()
        ],
        "wire": [
            WireCase('{"type": "start", "stream_id": "s-1", "sample_rate": 8000}', 65536).encode()
        ],
        "native": [
            Session(
                {},
                [
                    json.dumps({"type": "start", "stream_id": "s-1", "sample_rate": 8000}),
                    *[speech[Encoding.PCM_S16][i : i + 3200] for i in range(0, 24000, 3200)],
                    json.dumps({"type": "stop"}),
                ],
            ).encode()
        ],
        "twilio": [
            Session(
                {},
                [
                    json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
                    json.dumps(
                        {
                            "event": "start",
                            "start": {
                                "callSid": "CA1",
                                "tracks": ["inbound"],
                                "customParameters": {"token": TOKEN},
                                "mediaFormat": {
                                    "encoding": "audio/x-mulaw",
                                    "sampleRate": 8000,
                                    "channels": 1,
                                },
                            },
                        }
                    ),
                    *[
                        json.dumps(
                            {
                                "event": "media",
                                "media": {
                                    "track": "inbound",
                                    "payload": base64.b64encode(mulaw[i : i + 1600]).decode(),
                                },
                            }
                        )
                        for i in range(0, 12000, 1600)
                    ],
                    json.dumps({"event": "stop"}),
                ],
            ).encode()
        ],
        "audiohook": [
            Session(
                {"Audiohook-Organization-Id": "org-1"},
                [
                    json.dumps(
                        {
                            "version": "2",
                            "type": "open",
                            "seq": 1,
                            "serverseq": 0,
                            "id": "e160e428-53e2-487c-977d-96989bf5c99d",
                            "position": "PT0S",
                            "parameters": {
                                "organizationId": "org-1",
                                "conversationId": "conv-1",
                                "media": [
                                    {
                                        "type": "audio",
                                        "format": "PCMU",
                                        "channels": ["external"],
                                        "rate": 8000,
                                    }
                                ],
                            },
                        }
                    ),
                    *[mulaw[i : i + 1600] for i in range(0, 12000, 1600)],
                    json.dumps({"version": "2", "type": "close", "seq": 2, "parameters": {}}),
                ],
            ).encode()
        ],
    }
