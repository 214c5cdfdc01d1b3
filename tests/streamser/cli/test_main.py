"""The command line as a user meets it: exit codes, one-line errors, pipes."""

import subprocess
import sys

import numpy as np
import soundfile as sf
from support.audio import sine, wav_bytes

from streamser.audio import Encoding


def streamser(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streamser", *args], input=stdin, capture_output=True, timeout=60
    )


def test_help_lists_runtime_and_plugged_in_commands():
    result = streamser("--help")
    assert result.returncode == 0
    out = result.stdout.decode()
    assert "convert" in out
    assert "synth" in out  # registered by the training package through an entry point


def test_unknown_command_is_a_usage_error():
    result = streamser("transmogrify")
    assert result.returncode == 2
    assert b"invalid choice" in result.stderr


def test_convert_file_to_canonical_wav(tmp_path):
    source = tmp_path / "in.wav"
    source.write_bytes(wav_bytes(np.stack([sine(300, 0.5, 44100)] * 2, axis=1), 44100))
    result = streamser("convert", str(source), "-o", str(tmp_path / "out.wav"))
    assert result.returncode == 0, result.stderr
    info = sf.info(tmp_path / "out.wav")
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert info.frames == 8000


def test_convert_pipe_to_pipe_and_split_channels_to_files(tmp_path):
    stereo = wav_bytes(
        np.stack([sine(300, 0.25, 8000), sine(600, 0.25, 8000)], axis=1), 8000, Encoding.ALAW
    )
    piped = streamser("convert", "-", "-o", "-", stdin=stereo)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout[:4] == b"RIFF"
    assert len(piped.stdout) == 44 + 4000 * 2
    split = streamser(
        "convert", "-", "-o", str(tmp_path / "call.wav"), "--channel-mode", "split", stdin=stereo
    )
    assert split.returncode == 0, split.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["call-ch0.wav", "call-ch1.wav"]


def test_raw_input_needs_and_uses_its_declared_format():
    raw = (sine(440, 0.5, 8000) * 32767).astype("<i2").tobytes()
    result = streamser(
        "convert", "-", "-o", "-", "--raw", "--rate", "8000", "--encoding", "s16le", stdin=raw
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) == 44 + 8000 * 2


def test_bad_input_gets_one_line_and_exit_code_2(tmp_path):
    cases = [
        (["convert", str(tmp_path / "missing.wav"), "-o", "x.wav"], b"missing.wav: no such file"),
        (["convert", "-", "-o", "-"], b"<stdin>: byte 0: empty input"),
        (
            ["convert", "-", "-o", "-", "--raw", "--rate", "0"],
            b"raw input format: sample rate 0 Hz",
        ),
        (["convert", "-", "-o", "-", "--raw", "--encoding", "mp3"], b"unknown encoding 'mp3'"),
    ]
    for args, message in cases:
        result = streamser(*args, stdin=b"")
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.decode().strip().splitlines()
        assert len(lines) == 1, lines
        assert message in result.stderr
        assert b"Traceback" not in result.stderr
