"""`streamser serve` refuses what it cannot serve with one line and exit 2, before it loads the model."""

import socket
import subprocess
import sys

import pytest


def serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streamser", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--idle-timeout", "nan"], "--idle-timeout nan: expected a positive, finite number"),
        (["--idle-timeout", "inf"], "--idle-timeout inf: expected a positive, finite number"),
        (
            ["--certfile", "missing.pem", "--keyfile", "missing.pem"],
            "--certfile missing.pem: no such file",
        ),
        (
            ["--host", "nonexistent.invalid", "--token", "x"],
            "--host nonexistent.invalid: cannot resolve",
        ),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args, message):
    done = serve(*args)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"streamser serve: error: {message}")


def test_a_certificate_that_is_not_pem_is_one_line(tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    done = serve("--certfile", str(junk), "--keyfile", str(junk))
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "not a PEM certificate chain and its private key" in line


def test_a_port_in_use_is_one_line_after_the_model_loads():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = serve("--port", str(port))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert (
        last
        == f"streamser serve: error: cannot listen on 127.0.0.1:{port} (Address already in use)"
    )
