"""Fuzzing every protocol's message parsing: `wire.parse_json_object` and `typed`, and
the native, Twilio and AudioHook adapters, each driven through the real call loop
(`call_loop.run_call`) with a real `Context` and `InferencePool` over the tiny test
model; only the WebSocket is a recording stand-in.

Messages are each protocol's shapes with fields of every JSON type, missing or
added, and text broken the ways a bad client breaks it. Every message is accepted
or refused with a one-line `ProtocolError`; nothing else escapes or is logged as
an internal error, the connection never closes with 1011, and what the server
sends is JSON.
"""

from __future__ import annotations

from hypothesis import event, given
from support.fuzz.harness import assert_holds, fuzz_settings
from support.fuzz.targets import TARGETS


@fuzz_settings()
@given(data=TARGETS["wire"].inputs())
def test_wire_messages_parse_or_raise_a_one_line_protocol_error(fuzz_runner, data):
    event(assert_holds(fuzz_runner("wire"), data).label)


@fuzz_settings(scale=0.5)
@given(data=TARGETS["native"].inputs())
def test_native_sessions_keep_the_property(fuzz_runner, data):
    event(assert_holds(fuzz_runner("native"), data).label)


@fuzz_settings(scale=0.5)
@given(data=TARGETS["twilio"].inputs())
def test_twilio_sessions_keep_the_property(fuzz_runner, data):
    event(assert_holds(fuzz_runner("twilio"), data).label)


@fuzz_settings(scale=0.5)
@given(data=TARGETS["audiohook"].inputs())
def test_audiohook_sessions_keep_the_property(fuzz_runner, data):
    event(assert_holds(fuzz_runner("audiohook"), data).label)
