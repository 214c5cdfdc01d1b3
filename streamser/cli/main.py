"""Entry point of the `streamser` program: parse, dispatch, map errors to exit codes.

Exit codes: 0 ok, 1 runtime failure, 2 usage or input error. A
`StreamserError` is the user's input or set-up, so it prints one line and no
traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from streamser import __version__
from streamser.cli.command import Command
from streamser.cli.exit_codes import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from streamser.errors import StreamserError

ENTRY_POINT_GROUP = "streamser.commands"

log = logging.getLogger(__name__)


def builtin_commands() -> list[Command]:
    """The runtime's own subcommands."""
    from streamser.cli import convert, devices, listen, models, plot, serve

    return [
        convert.COMMAND, devices.COMMAND, listen.COMMAND, models.COMMAND, plot.COMMAND,
        serve.COMMAND,
    ]  # fmt: skip


def plugin_commands() -> list[Command]:
    """Subcommands registered by other packages (the training half) via entry points."""
    commands = []
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        # A broken plugin must not take the runtime's own commands down with it.
        try:
            command = entry_point.load()
        except Exception as error:
            log.warning("command %r is unavailable: %s", entry_point.name, error)
            continue
        if not isinstance(command, Command):
            log.warning(
                "command %r: %s is not a streamser Command", entry_point.name, entry_point.value
            )
            continue
        commands.append(command)
    return commands


def build_parser(commands: Sequence[Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamser",
        description="Real-time speech emotion recognition.",
    )
    parser.add_argument("--version", action="version", version=f"streamser {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (repeatable)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in sorted(commands, key=lambda c: c.name):
        sub = subparsers.add_parser(
            command.name, help=command.help, description=command.description or command.help
        )
        command.configure(sub)
        sub.set_defaults(run=command.run)
    return parser


def configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(builtin_commands() + plugin_commands())
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        return args.run(args)
    except StreamserError as error:
        print(f"streamser {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`streamser ... | head`): not an error of ours.
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
