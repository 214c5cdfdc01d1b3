"""The exit codes of every `streamser` command, defined once.

0 ok, 1 runtime failure (a device that went away, output that cannot be written),
2 usage or input error (one line on stderr, no traceback), 130 interrupted before
anything ran.
"""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
"""128 + SIGINT, as a shell reports a process that Ctrl-C ended."""
