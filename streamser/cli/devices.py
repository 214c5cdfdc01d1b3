"""`streamser devices`: the audio inputs PortAudio sees, with their default rates.

Any of them can be given to `streamser listen --device` by index or by a part of
its name. Needs the `mic` extra (PyAudio).
"""

from __future__ import annotations

import argparse
import json
import sys

from streamser.cli.command import Command


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per device")


def run(args: argparse.Namespace) -> int:
    from streamser.sources.mic import list_input_devices, open_portaudio

    audio = open_portaudio()
    try:
        devices = list_input_devices(audio)
        try:
            default = audio.get_default_input_device_info()["index"]
        except OSError:
            default = None
    finally:
        audio.terminate()
    if not devices:
        print("no audio input devices found (is a sound server running?)", file=sys.stderr)
        return 0
    for device in devices:
        if args.json:
            record = {**device.__dict__, "default": device.index == default}
            print(json.dumps(record, separators=(",", ":")))
        else:
            mark = "  (default)" if device.index == default else ""
            print(
                f"{device.index:>3}  {device.name}  [{device.host_api}]  "
                f"{device.channels} ch  {device.default_rate_hz} Hz{mark}"
            )
    return 0


COMMAND = Command(
    name="devices",
    help="list audio input devices for `streamser listen --device`",
    configure=configure,
    run=run,
    description=__doc__,
)
