"""Command-line options that describe an audio input, shared by every command that reads one."""

from __future__ import annotations

import argparse

from streamser.audio import AudioFormat, ChannelMode, Encoding
from streamser.errors import StreamserError


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """Adds `--raw`, `--rate`, `--encoding`, `--channels` and `--channel-mode`."""
    group = parser.add_argument_group("input format")
    group.add_argument(
        "--raw",
        action="store_true",
        help="the input is headerless PCM described by --rate, --encoding and --channels",
    )
    group.add_argument("--rate", type=int, default=16000, help="raw input sample rate in Hz")
    group.add_argument(
        "--encoding",
        default="s16",
        help="raw input sample encoding: " + ", ".join(e.value for e in Encoding),
    )
    group.add_argument("--channels", type=int, default=1, help="raw input channel count")
    group.add_argument(
        "--channel-mode",
        default="downmix",
        metavar="MODE",
        help="multi-channel input: downmix (default), split (one stream per channel) "
        "or a zero-based channel number",
    )


def raw_format_from(args: argparse.Namespace) -> AudioFormat | None:
    """The declared raw format, or None for self-describing input."""
    if not args.raw:
        return None
    try:
        return AudioFormat(
            sample_rate_hz=args.rate,
            channels=args.channels,
            encoding=Encoding.parse(args.encoding),
        )
    except ValueError as error:
        raise StreamserError(f"raw input format: {error}") from None


def channel_mode_from(args: argparse.Namespace) -> ChannelMode:
    try:
        return ChannelMode.parse(args.channel_mode)
    except ValueError as error:
        raise StreamserError(str(error)) from None
