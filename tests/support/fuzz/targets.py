"""The fuzz targets: what each input is fed to, and the checks each adds to the property.

| target | fuzzes | documented error |
| --- | --- | --- |
| wav | `read_wav_header`, `open_audio` (stream and path), `FileSource` | `AudioFormatError` |
| raw | `AudioFormat`, `decode_samples`, raw `open_audio`, `StreamConverter` | `ValueError` (a declared format, a partial frame), `AudioFormatError` |
| wire | `parse_json_object`, `typed` | `ProtocolError` |
| native, twilio, audiohook | each adapter's `handle`, inside the real call loop | `ProtocolError` |

The protocol targets run a whole connection through `call_loop.run_call` with a
real `Context` and `InferencePool` (the torch-free tiny model); only the WebSocket
is a stand-in (`RecordingSocket`).
"""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from streamser.audio import AudioFormat, ChannelMode, StreamConverter, open_audio
from streamser.audio.bytestream import ByteCursor
from streamser.audio.formats import check_channels, check_sample_rate, decode_samples
from streamser.audio.wav import WavHeader, looks_like_riff, read_wav_header
from streamser.constants import SAMPLE_RATE_HZ
from streamser.errors import AudioFormatError
from streamser.sources.file import FileSource
from support.fuzz import audio_inputs, protocol_inputs
from support.fuzz.audio_inputs import ENCODINGS, RawCase
from support.fuzz.harness import (
    PropertyViolation,
    Runner,
    check_outputs,
    check_samples,
    expect,
    one_line,
    quiet_logs,
)
from support.fuzz.protocol_inputs import TOKEN, Session, WireCase

BLOCK_FRAMES = 61
"""Readers are drained in small odd blocks, so that block boundaries fall everywhere."""


def _decode(source: Any) -> np.ndarray:
    with open_audio(source) as reader:
        channels = reader.format.channels
        blocks = list(reader.blocks(BLOCK_FRAMES))
    samples = np.concatenate(blocks) if blocks else np.zeros((0, channels), np.float32)
    check_samples(samples, channels, "open_audio")
    return samples


def _drain_source(data: bytes) -> None:
    source = FileSource(io.BytesIO(data))
    try:
        for outputs in source.blocks():
            check_outputs(outputs, len(source.stream_names), "FileSource")
    finally:
        source.close()


def _check_header(header: WavHeader, data: bytes) -> None:
    fmt = header.format
    if not 12 <= header.data_offset <= len(data) or (header.data_bytes or 0) < 0:
        raise PropertyViolation("wav header", f"data at {header.data_offset} of {len(data)} bytes")
    check_sample_rate(fmt.sample_rate_hz)
    check_channels(fmt.channels)


class WavRunner:
    """One file through the WAV header parser, `open_audio` on a stream and on a path
    (which takes other containers to libsndfile), and `FileSource`."""

    def __init__(self, model: Any = None) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="streamser-fuzz-")
        self._path = Path(self._folder.name) / "input"

    def __call__(self, data: bytes) -> str:
        header = expect(
            AudioFormatError, lambda: read_wav_header(ByteCursor(io.BytesIO(data), "x"))
        )
        if header is not None:
            _check_header(header, data)
        stream = expect(AudioFormatError, lambda: _decode(io.BytesIO(data)))
        if stream is not None:
            if header is None:
                raise PropertyViolation("decoders agree", "open_audio decoded a refused header")
            if len(stream) * header.format.bytes_per_frame > len(data) - header.data_offset:
                raise PropertyViolation("decoders agree", "more frames decoded than bytes held")
        self._path.write_bytes(data)
        by_path = expect(AudioFormatError, lambda: _decode(self._path))
        riff = looks_like_riff(data[:12])
        if riff and not (
            (stream is None and by_path is None)
            or (stream is not None and by_path is not None and np.array_equal(stream, by_path))
        ):
            raise PropertyViolation("decoders agree", "a path and a stream decode differently")
        expect(AudioFormatError, lambda: _drain_source(data))
        if stream is not None:
            return "decoded"
        return "rejected" if by_path is None else "decoded by libsndfile"

    def close(self) -> None:
        self._folder.cleanup()


def _channel_mode(code: int) -> ChannelMode:
    if code == 0:
        return ChannelMode()
    if code == 1:
        return ChannelMode("split")
    return ChannelMode("select", code - 2)


class RawRunner:
    """Headerless PCM declared by the caller: the format, `decode_samples`, the raw
    reader of `open_audio`, and `StreamConverter` fed in pieces of any size."""

    def __init__(self, model: Any = None) -> None:
        pass

    def __call__(self, data: bytes) -> str:
        case = RawCase.decode(data)
        encoding = ENCODINGS[case.encoding_index % len(ENCODINGS)]
        fmt = expect(ValueError, lambda: AudioFormat(case.rate, case.channels, encoding))
        if fmt is None:
            return "format refused"
        payload, frame_bytes = case.payload, fmt.bytes_per_frame
        whole = len(payload) - len(payload) % frame_bytes
        if (
            whole != len(payload)
            and expect(ValueError, lambda: decode_samples(payload, fmt)) is not None
        ):
            raise PropertyViolation("whole frames", "decode_samples took a partial frame")
        samples = decode_samples(payload[:whole], fmt)
        check_samples(samples, fmt.channels, "decode_samples")
        if len(samples) != whole // frame_bytes:
            raise PropertyViolation("decoded shape", f"{len(samples)} frames from {whole} bytes")

        frames = max(1, case.push_bytes // frame_bytes) if case.push_bytes else 4096
        read = expect(AudioFormatError, lambda: _read_raw(payload, fmt, frames))
        if read is not None and not np.array_equal(read, samples):
            raise PropertyViolation("decoders agree", "the raw reader and decode_samples differ")

        mode = _channel_mode(case.mode)
        converter = expect(AudioFormatError, lambda: StreamConverter(fmt, mode, name="<raw>"))
        if converter is None:
            if mode.kind != "select" or mode.channel < fmt.channels:
                raise PropertyViolation("converter", f"refused {mode} for {fmt.describe()}")
            return "channel refused"
        totals = np.zeros(converter.outputs, dtype=np.int64)
        for start in range(0, max(len(samples), 1), frames):
            outputs = converter.process(samples[start : start + frames])
            check_outputs(outputs, converter.outputs, "StreamConverter.process")
            totals += len(outputs[0])
        outputs = converter.flush()
        check_outputs(outputs, converter.outputs, "StreamConverter.flush")
        totals += len(outputs[0])
        expected = len(samples) * SAMPLE_RATE_HZ / fmt.sample_rate_hz
        if abs(int(totals[0]) - expected) > 1:
            raise PropertyViolation(
                "resampled length", f"{totals[0]} samples from {len(samples)} at {fmt.describe()}"
            )
        return "converted"

    def close(self) -> None:
        pass


def _read_raw(payload: bytes, fmt: AudioFormat, frames: int) -> np.ndarray:
    with open_audio(io.BytesIO(payload), raw_format=fmt) as reader:
        blocks = list(reader.blocks(frames))
    return np.concatenate(blocks) if blocks else np.zeros((0, fmt.channels), np.float32)


_REQUIRED = object()


class WireRunner:
    """One message through `parse_json_object`, then `typed` over its fields."""

    def __init__(self, model: Any = None) -> None:
        from streamser.server import wire

        self._wire = wire

    def __call__(self, data: bytes) -> str:
        wire = self._wire
        case = WireCase.decode(data)
        obj = expect(wire.ProtocolError, lambda: wire.parse_json_object(case.message, case.limit))
        if obj is None:
            return "rejected"
        if not isinstance(obj, dict):
            raise PropertyViolation("parse_json_object", f"returned {type(obj).__name__}")
        # Schemas name their fields with literals: one-line names, as the messages need.
        names = [name for name in obj if name.splitlines() == [name]][:6]
        for name in [*names, "absent"]:
            value = obj.get(name)
            for kind in (str, int, list, dict):
                fits = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
                for default in (_REQUIRED, None, kind()):
                    extra = () if default is _REQUIRED else (default,)
                    try:
                        got = wire.typed(obj, name, kind, "fuzz", *extra)
                    except wire.ProtocolError as error:
                        one_line(error)
                        if (value is None and default is not _REQUIRED) or fits or not error.fatal:
                            raise PropertyViolation(
                                "typed", f"{name}={value!r} as {kind}"
                            ) from error
                        continue
                    if got is not (default if value is None else value) or (
                        value is not None and not fits
                    ):
                        raise PropertyViolation("typed", f"{name}={value!r} as {kind} gave {got!r}")
        return "object"

    def close(self) -> None:
        pass


class RecordingSocket:
    """A recording stand-in for a server-side `websockets` connection: hands over a
    session's messages in order, then reports the client gone; records what the
    server sends and how it closes. Its upgrade request is a real `websockets` one."""

    def __init__(self, messages: list[str | bytes], headers: dict[str, str]) -> None:
        from websockets.datastructures import Headers
        from websockets.http11 import Request

        self.request = Request("/", Headers(headers))
        self.transport = _RecordingTransport()
        self.id = "fuzz"
        self.sent: list[str | bytes] = []
        self.close_codes: list[int] = []
        self._incoming = list(messages)

    async def recv(self) -> str | bytes:
        from websockets.exceptions import ConnectionClosed

        await asyncio.sleep(0)
        if not self._incoming:
            raise ConnectionClosed(None, None)
        return self._incoming.pop(0)

    async def send(self, message: str | bytes) -> None:
        self.sent.append(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.close_codes.append(code)


class _RecordingTransport:
    def __init__(self) -> None:
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


class ProtocolRunner:
    """One connection's messages through an adapter inside the real call loop."""

    def __init__(self, protocol: str, model: Any) -> None:
        from streamser.ood import OodOptions
        from streamser.server import audiohook, native, twilio
        from streamser.server.metrics import ServerMetrics
        from streamser.server.options import ServerOptions
        from streamser.server.pool import InferencePool
        from streamser.worker import Worker

        self._adapter = {
            "native": native.NativeAdapter,
            "twilio": twilio.TwilioAdapter,
            "audiohook": audiohook.AudioHookAdapter,
        }[protocol]
        self._pool = InferencePool(Worker.for_model(model, OodOptions()), threads=1)
        self._metrics = ServerMetrics({"name": model.metadata.name, "sha256": model.short_sha}, 1)
        self._options = ServerOptions(port=0, token=TOKEN, twilio_echo=True)

    def __call__(self, data: bytes) -> str:
        session = Session.decode(data)
        with quiet_logs() as log:
            socket, opened = asyncio.run(self._connection(session))
        if log.errors:
            raise log.errors[0]
        for message in socket.sent:
            _check_sent(message)
        if not socket.close_codes or socket.close_codes[-1] == 1011:
            raise PropertyViolation("close", f"closed with {socket.close_codes}")
        if not opened:
            return "no call"
        events = sum('"type":"utterance"' in m or "streamser.utterance" in m for m in socket.sent)
        return "call with utterances" if events else "call"

    async def _connection(self, session: Session) -> tuple[RecordingSocket, bool]:
        from streamser.server.call_loop import run_call
        from streamser.server.wire import Context

        ctx = Context(self._options, self._pool, self._metrics, asyncio.Event())
        socket = RecordingSocket(session.messages, session.headers)
        adapter = self._adapter(ctx, socket)
        opened = []
        adapter.handle = _checked_handle(adapter.handle, opened)
        await run_call(ctx, socket, adapter)
        await asyncio.sleep(0)
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
        if left:
            raise PropertyViolation("tasks", f"{len(left)} task(s) still running after the call")
        return socket, bool(opened)

    def close(self) -> None:
        self._pool.close()


def _checked_handle(handle: Callable, opened: list) -> Callable:
    """`adapter.handle`, checking the message of every ProtocolError and the actions."""
    from streamser.server.call_loop import Audio, End, Gap, Open
    from streamser.server.wire import ProtocolError

    async def checked(message: str | bytes) -> list:
        try:
            actions = await handle(message)
        except ProtocolError as error:
            one_line(error)
            raise
        if not isinstance(actions, list) or not all(
            isinstance(a, (Open, Audio, Gap, End)) for a in actions
        ):
            raise PropertyViolation("actions", f"handle returned {actions!r:.200}")
        opened.extend(a for a in actions if isinstance(a, Open))
        return actions

    return checked


def _check_sent(message: str | bytes) -> None:
    """What the server sends: JSON text objects; error events' messages are one line."""
    if not isinstance(message, str):
        raise PropertyViolation("sent", f"binary message {message[:40]!r}")
    try:
        value = json.loads(message, parse_constant=_no_constants)
    except ValueError as error:
        raise PropertyViolation("sent", f"not JSON: {message[:80]!r}") from error
    if not isinstance(value, dict):
        raise PropertyViolation("sent", f"not an object: {message[:80]!r}")
    if value.get("type") == "error":
        one_line(ValueError(value.get("message")))


@dataclass(frozen=True)
class Target:
    """A fuzz target.

    Attributes:
        name: Its folder in the corpus and its name for bin/fuzz.
        fuzzes: What it exercises.
        inputs: The hypothesis strategy of its inputs (bytes).
        open: Makes a runner; protocol targets need a loaded model.
        needs_model: Whether `open` needs the model.
    """

    name: str
    fuzzes: str
    inputs: Callable[[], st.SearchStrategy[bytes]]
    open: Callable[[Any], Runner]
    needs_model: bool = False


TARGETS = {
    t.name: t
    for t in (
        Target("wav", "WAV header, open_audio, FileSource", audio_inputs.wav_inputs, WavRunner),
        Target(
            "raw",
            "decode_samples, raw open_audio, StreamConverter",
            audio_inputs.raw_inputs,
            RawRunner,
        ),
        Target("wire", "parse_json_object, typed", protocol_inputs.wire_inputs, WireRunner),
        Target(
            "native",
            "NativeAdapter.handle in the call loop",
            protocol_inputs.native_sessions,
            lambda model: ProtocolRunner("native", model),
            needs_model=True,
        ),
        Target(
            "twilio",
            "TwilioAdapter.handle in the call loop",
            protocol_inputs.twilio_sessions,
            lambda model: ProtocolRunner("twilio", model),
            needs_model=True,
        ),
        Target(
            "audiohook",
            "AudioHookAdapter.handle in the call loop",
            protocol_inputs.audiohook_sessions,
            lambda model: ProtocolRunner("audiohook", model),
            needs_model=True,
        ),
    )
}
