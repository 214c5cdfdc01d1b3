"""The runtime stays lean: it must import and work on a machine without torch."""

import subprocess
import sys
import textwrap


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )


def test_runtime_imports_with_torch_blocked():
    result = run_python(
        """
        import sys
        sys.modules["torch"] = None  # any `import torch` now raises ImportError
        sys.modules["torchaudio"] = None
        import streamser, streamser.audio, streamser.cli.main
        from streamser.cli.main import builtin_commands, plugin_commands
        names = sorted(c.name for c in builtin_commands() + plugin_commands())
        print(names)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "'convert'" in result.stdout


def test_importing_the_package_loads_no_heavy_module():
    result = run_python(
        """
        import sys
        import streamser, streamser.audio
        heavy = {"torch", "rich", "soundfile", "pyaudio", "websockets", "training", "matplotlib"}
        print(sorted(heavy & set(sys.modules)))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
