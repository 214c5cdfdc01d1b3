"""Inputs of the protocol targets, as hypothesis strategies of bytes (a corpus file's form).

- Wire: a JSON document `{"message": ..., "limit": n}`.
- Protocol sessions: a JSON document `{"headers": {...}, "messages": [...]}`;
  messages are text, or `{"binary": base64}` for binary ones.

Text messages are built from each protocol's message shapes: a valid message, then
fields replaced by any JSON value (recursive: lists and objects of every scalar,
NaN and infinities, numbers of thousands of digits), removed or added, then
sometimes the text itself broken (truncated, characters inserted, nested
thousands deep). Lone surrogates only ever appear JSON-escaped: a WebSocket text
message is valid UTF-8. Binary messages are pieces of speech-like audio (so calls
get as far as recognition) or noise, now and then larger than the server takes.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from hypothesis import strategies as st

from streamser.audio import Encoding
from streamser.audio.formats import encode_samples
from support.speech import voiced

# --- JSON values and text messages --------------------------------------------------


@dataclass(frozen=True)
class BigNumber:
    """A JSON number of `digits` digits: past Python's 4300-digit limit for int()."""

    digits: int


LONE_SURROGATES = ("\ud800", "a\udfffb", "\udc80")
ODD_TEXT = st.sampled_from(
    ("", " ", "a\nb", "stop\n", "\r", "x\u2028y", "\x85", "\x1c", "\t", "\x00")
)
"""Strings that break lines or logs when a message quotes them as they are."""
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from((0, -1, 8000, 1 << 53, -(1 << 63), 10**40))
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(LONE_SURROGATES)
    | ODD_TEXT
    | st.integers(4000, 6000).map(BigNumber)
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
"""Any JSON value: nested lists and objects of every scalar, NaN and infinities included."""


def to_json(value: Any) -> str:
    """JSON text as a client might send it: NaN and Infinity literals allowed, surrogates escaped."""
    if isinstance(value, BigNumber):
        return "9" * value.digits
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in nested objects and lists that a mutation can change."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _paths(child, (*prefix, i))
    return found


_FIELD_MUTATIONS = st.sampled_from((0, 0, 1)) | st.integers(0, 3)
_FIELD_OPS = st.sampled_from(("replace", "replace", "remove", "null", "add", "whole"))


@st.composite
def mutated_message(draw: st.DrawFn, message: st.SearchStrategy[dict]) -> Any:
    """A message with 0..3 fields replaced by any JSON value, removed or added."""
    value = json.loads(json.dumps(draw(message)))  # a deep copy
    for _ in range(draw(_FIELD_MUTATIONS)):
        paths, op = _paths(value), draw(_FIELD_OPS)
        if op == "whole":
            return draw(JSON_VALUES)
        if not paths:
            return value
        path = draw(st.sampled_from(paths))
        parent = value
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if op == "replace":
            parent[key] = draw(JSON_VALUES)
        elif op == "null":
            parent[key] = None
        elif op == "remove":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(JSON_VALUES)
        else:
            parent.append(draw(JSON_VALUES))
    return value


_BREAKS = st.sampled_from(("json",) * 6 + ("truncate", "insert", "nest", "text"))
_INSERTS = st.sampled_from([*'{}[]",:\\ 0-e.', "\0", "\n", "\u2028", "\ufeff"]) | st.text(
    max_size=3
)
_DEPTHS = st.integers(1, 5) | st.integers(500, 40000)
_NESTING = st.sampled_from((("[", "]"), ('{"a":', "}")))


@st.composite
def text_message(draw: st.DrawFn, message: st.SearchStrategy[Any]) -> str:
    """A message as WebSocket text: JSON, or JSON broken the ways a bad client breaks it."""
    text = to_json(draw(message))
    how = draw(_BREAKS)
    if how == "truncate":
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
    elif how == "insert":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(_INSERTS) + text[at:]
    elif how == "nest":
        depth = draw(_DEPTHS)
        opener, closer = draw(_NESTING)
        text = opener * depth + text + closer * depth * draw(st.integers(0, 1))
    elif how == "text":
        text = draw(st.text(max_size=40))
    return text


# --- protocol sessions --------------------------------------------------------------

TOKEN = "fuzz-token"
"""The server's bearer token in the protocol targets (Twilio streams must present it)."""


@dataclass(frozen=True)
class Session:
    """What one connection sends: upgrade headers, then text and binary messages."""

    headers: dict[str, str]
    messages: list[str | bytes]

    def encode(self) -> bytes:
        messages = [
            {"binary": base64.b64encode(m).decode()} if isinstance(m, bytes) else m
            for m in self.messages
        ]
        return json.dumps({"headers": self.headers, "messages": messages}).encode()

    @classmethod
    def decode(cls, data: bytes) -> Session:
        document = json.loads(data)
        messages = [
            base64.b64decode(m["binary"]) if isinstance(m, dict) else m
            for m in document["messages"]
        ]
        return cls(dict(document.get("headers", {})), messages)


@cache
def speech_bytes(encoding: Encoding) -> bytes:
    """1.5 s of speech-like audio at 8 kHz: enough for the segmenter to cut an utterance."""
    return encode_samples(voiced(1.5, rate=8000), encoding)


_NOISE = st.builds(
    lambda pattern, n: pattern * n,
    st.binary(max_size=160),
    st.sampled_from((1, 4)) | st.integers(0, 700),
)
_SPEECH_LENGTHS = st.sampled_from((4000, 24000)) | st.integers(1, 24000)


@cache
def audio_messages(encodings: tuple[Encoding, ...] = (Encoding.MULAW,)) -> st.SearchStrategy[bytes]:
    """A binary message: a piece of speech-like audio or noise; now and then too large."""
    speech = st.builds(
        lambda audio, start, length: audio[start : start + length],
        st.sampled_from(encodings).map(speech_bytes),
        st.sampled_from((0,)) | st.integers(0, 24000),
        _SPEECH_LENGTHS,
    )
    return speech | _NOISE


_HEADER_VALUES = st.text(
    st.characters(codec="latin-1", exclude_categories=("Cc",)) | st.just("\t"), max_size=24
)
"""What `websockets` hands over: ISO-8859-1 text of tabs, printable ASCII and 0x80-0xFF."""


def _session(
    handshake: st.SearchStrategy[Any],
    messages: st.SearchStrategy[Any],
    audio: st.SearchStrategy[bytes],
    headers: st.SearchStrategy[dict[str, str]],
) -> st.SearchStrategy[bytes]:
    """A connection: usually the handshake first, then messages and audio in any order."""
    opening = text_message(mutated_message(handshake))
    text = text_message(mutated_message(messages))
    return st.builds(
        lambda h, head, rest: Session(h, [*head, *rest]).encode(),
        headers,
        st.one_of(st.tuples(opening), st.tuples(opening), st.tuples()),
        st.lists(st.one_of(text, audio, audio), max_size=8),
    )


_IDS = st.sampled_from(("call-1", "CA0001", "")) | ODD_TEXT | st.text(min_size=1, max_size=12)


@cache
def native_sessions() -> st.SearchStrategy[bytes]:
    start = st.fixed_dictionaries(
        {
            "type": st.just("start"),
            "stream_id": _IDS,
            "sample_rate": st.sampled_from((8000, 16000, 24000, 32000, 44100, 48000)),
        },
        optional={
            "encoding": st.sampled_from(("s16le", "mulaw", "alaw")),
            "channels": st.sampled_from((["ch0"], ["agent", "customer"], ["a", "a"], [])),
        },
    )
    kinds = st.sampled_from(("stop", "stop", "start", "pause")) | ODD_TEXT | st.text(max_size=6)
    other = st.fixed_dictionaries({"type": kinds})
    audio = audio_messages((Encoding.PCM_S16, Encoding.MULAW, Encoding.ALAW))
    headers = st.sampled_from(({}, {"Authorization": f"Bearer {TOKEN}"}))
    return _session(start, st.one_of(start, other), audio, headers)


@cache
def twilio_sessions() -> st.SearchStrategy[bytes]:
    media_format = st.fixed_dictionaries(
        {"encoding": st.just("audio/x-mulaw"), "sampleRate": st.just(8000), "channels": st.just(1)}
    )
    parameters = st.fixed_dictionaries(
        {"token": st.sampled_from((TOKEN, TOKEN, "wrong"))}, optional={"agent": st.text(max_size=4)}
    )
    start = st.fixed_dictionaries(
        {
            "event": st.just("start"),
            "sequenceNumber": st.just("1"),
            "streamSid": st.just("MZ0001"),
            "start": st.fixed_dictionaries(
                {
                    "accountSid": st.just("AC0001"),
                    "streamSid": st.just("MZ0001"),
                    "callSid": _IDS,
                    "tracks": st.sampled_from((["inbound"], ["outbound"], ["inbound", "outbound"])),
                    "mediaFormat": media_format,
                    "customParameters": parameters,
                },
            ),
        }
    )
    payload = st.one_of(
        audio_messages().map(lambda b: base64.b64encode(b[:4000]).decode()),
        audio_messages().map(lambda b: base64.b64encode(b[:4000]).decode()),
        st.text(max_size=12),
    )
    media = st.fixed_dictionaries(
        {
            "event": st.just("media"),
            "sequenceNumber": st.just("2"),
            "streamSid": st.just("MZ0001"),
            "media": st.fixed_dictionaries(
                {
                    "track": st.sampled_from(("inbound", "outbound", "both")),
                    "chunk": st.just("1"),
                    "timestamp": st.just("20"),
                    "payload": payload,
                }
            ),
        }
    )
    events = st.sampled_from(("connected", "mark", "dtmf", "stop", "start", "closed"))
    other = st.fixed_dictionaries(
        {"event": events | ODD_TEXT | st.text(max_size=6)},
        optional={"mark": st.fixed_dictionaries({"name": st.text(max_size=4)})},
    )
    headers = st.sampled_from(({}, {"Authorization": f"Bearer {TOKEN}"})) | st.fixed_dictionaries(
        {"Authorization": _HEADER_VALUES}
    )
    # Twilio's media messages carry the audio: no binary messages.
    return _session(start, st.one_of(media, media, media, start, other), st.nothing(), headers)


_DURATIONS = st.one_of(
    st.sampled_from(("PT0S", "PT1.25S", "PT600S", "PT-1S", "P1D", "PTS", "PT\u0661\u0662S")),
    st.floats(0, 1e6).map(lambda s: f"PT{s:.3f}S"),
    st.integers(300, 5000).map(lambda n: f"PT{'9' * n}S"),
    st.text(max_size=8),
)


@cache
def audiohook_sessions() -> st.SearchStrategy[bytes]:
    offer = st.fixed_dictionaries(
        {
            "type": st.just("audio"),
            "format": st.sampled_from(("PCMU", "PCMU", "L16")),
            "rate": st.sampled_from((8000, 8000, 16000)),
            "channels": st.sampled_from(
                (["external"], ["internal"], ["external", "internal"], ["x"])
            ),
        }
    )

    def message(kind: st.SearchStrategy[str], parameters: st.SearchStrategy) -> st.SearchStrategy:
        return st.fixed_dictionaries(
            {
                "version": st.just("2"),
                "type": kind,
                "seq": st.integers(1, 8),
                "serverseq": st.integers(0, 8),
                "id": st.just("e160e428-53e2-487c-977d-96989bf5c99d"),
                "position": _DURATIONS,
                "parameters": parameters,
            }
        )

    open_ = message(
        st.just("open"),
        st.fixed_dictionaries(
            {
                "organizationId": st.sampled_from(("org-1", "org-1", "org-2")),
                "conversationId": _IDS,
                "media": st.lists(offer, min_size=1, max_size=3),
            },
            optional={"participant": st.fixed_dictionaries({"ani": st.text(max_size=6)})},
        ),
    )
    kinds = st.sampled_from(
        ("ping", "update", "paused", "pause", "resumed", "resume", "discarded", "close", "error")
    )
    other = message(
        kinds | st.just("open") | ODD_TEXT | st.text(max_size=6),
        st.fixed_dictionaries(
            {}, optional={"discarded": _DURATIONS, "start": _DURATIONS, "reason": st.just("end")}
        ),
    )
    headers = st.fixed_dictionaries(
        {}, optional={"Audiohook-Organization-Id": st.just("org-1") | _HEADER_VALUES}
    )
    return _session(open_, st.one_of(other, other, open_), audio_messages(), headers)


# --- wire: single messages ----------------------------------------------------------


@dataclass(frozen=True)
class WireCase:
    """One message for `parse_json_object` and the size limit it is held to."""

    message: str | bytes
    limit: int

    def encode(self) -> bytes:
        message = self.message
        if isinstance(message, bytes):
            message = {"binary": base64.b64encode(message).decode()}
        return json.dumps({"message": message, "limit": self.limit}).encode()

    @classmethod
    def decode(cls, data: bytes) -> WireCase:
        document = json.loads(data)
        message = document["message"]
        if isinstance(message, dict):
            message = base64.b64decode(message["binary"])
        return cls(message, int(document["limit"]))


@cache
def wire_inputs() -> st.SearchStrategy[bytes]:
    keys = st.sampled_from(("type", "event", "seq", "stream_id", "parameters", "media"))
    shaped = JSON_VALUES | st.dictionaries(keys | st.text(max_size=4), JSON_VALUES, max_size=5)
    message = st.one_of(text_message(shaped), text_message(shaped), st.binary(max_size=64))
    limit = st.sampled_from((64 * 1024, 64 * 1024, 16)) | st.integers(0, 1 << 17)
    return st.builds(lambda m, n: WireCase(m, n).encode(), message, limit)
