"""`streamser synth` as a user meets it: one-line errors with exit code 2, a working run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def streamser_command() -> list[str]:
    """The installed `streamser` script of this environment, else the module."""
    script = Path(sys.executable).with_name("streamser")
    return [str(script)] if script.exists() else [sys.executable, "-m", "streamser"]


def synth(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*streamser_command(), "synth", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engines", "espeak,flite"], "unknown engine 'espeak'"),
        (["--emotions", "joy"], "unknown emotion 'joy'"),
        (["--languages", "fr"], "unknown language 'fr'"),
        (["--engines", "festival", "--languages", "de"], "no selected engine speaks de"),
        (["--per-class", "3", "--count", "10"], "not both"),
        (["--count", "ten"], "whole number"),
        (["--per-class", "0"], "at least 1"),
        (["--conditions", "clean,noise:loud"], "unknown condition 'noise:loud'"),
        (["--jobs", "0"], "at least 1"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, message):
    result = synth("-o", str(tmp_path / "out"), *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("streamser synth: error: ")
    assert message in lines[0]
    assert not (tmp_path / "out").exists()


def test_output_or_report_is_required(tmp_path):
    for args in ([], ["-o", str(tmp_path / "a"), "--report", str(tmp_path)]):
        result = synth(*args)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1


def test_report_of_a_directory_without_corpus(tmp_path):
    result = synth("--report", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"streamser synth: error: {tmp_path}: no manifest.csv "
        "(not a SynthEmo corpus, or unfinished)"
    ]


def _path_without(tmp_path: Path, *keep: str) -> dict[str, str]:
    """An environment whose PATH holds only the named programs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in keep:
        found = shutil.which(name)
        assert found, f"{name} is needed for this test"
        (bin_dir / name).symlink_to(found)
    return {**os.environ, "PATH": str(bin_dir)}


def test_missing_engine_names_the_debian_package(tmp_path):
    result = synth("-o", str(tmp_path / "out"), env=_path_without(tmp_path, "sox"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "streamser synth: error: espeak-ng is not installed (needed for the espeak-ng corpus): "
        "apt-get install espeak-ng"
    ]


def test_missing_sox_names_the_debian_package(tmp_path):
    env = _path_without(tmp_path)
    result = synth("-o", str(tmp_path / "out"), "--engines", "flite", env=env)
    assert result.returncode == 2
    assert "apt-get install sox" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.tts
def test_generate_then_report_again(tmp_path):
    out = tmp_path / "corpus"
    args = ["--engines", "espeak-ng", "--emotions", "four", "--per-class", "2", "--jobs", "2"]
    first = synth("-o", str(out), *args, "--conditions", "clean,noise:20")
    assert first.returncode == 0, first.stderr
    assert "synthemo-espeak en (clean)" in first.stdout
    assert "direction checks" in first.stdout
    assert (out / "manifest.csv").read_text().count("\n") == 1 + 4 * 2 * 2
    saved = json.loads((out / "report.json").read_text())
    again = synth("--report", str(out), "--jobs", "1")
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "report.json").read_text()) == saved
    assert "synthemo-espeak en (noise:20)" in again.stdout
    resumed = synth("-o", str(out), *args, "--conditions", "clean,noise:20")
    assert resumed.returncode == 0
    # rich wraps the line at the terminal width, which depends on the temporary path.
    assert "0 written, 16 already there" in " ".join(resumed.stderr.split())


def test_command_module_imports_light():
    """`streamser --help` imports this module on every run, torch-free installs included."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import training.synthemo.cli as cli\n"
        "assert cli.COMMAND.name == 'synth'\n"
        "heavy = [m for m in sys.modules if m.startswith(('rich', 'soxr', 'training.synthemo.'))]\n"
        "assert heavy == ['training.synthemo.cli'], heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
