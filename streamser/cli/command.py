"""What a subcommand is, for built-in commands and for those that plug in.

Offline commands (`synth`, `train`, `export`, ...) live in the training package and
reach the CLI through the `streamser.commands` entry-point group; each entry point
names a `Command`. Their modules must import without torch so that `streamser --help`
works on a runtime-only install; they import heavy dependencies inside `run`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """One `streamser NAME ...` subcommand.

    Attributes:
        name: The word after `streamser`.
        help: One line for `streamser --help`.
        configure: Adds the command's arguments to its parser.
        run: Runs the command and returns the process exit code.
        description: Longer text for `streamser NAME --help`; defaults to `help`.
    """

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str = ""
