"""`streamser plot`: a session's traces as a PNG of the asked size, not blank; clear errors."""

import json
import struct
import subprocess
import sys

import numpy as np
import pytest

from streamser.cli.main import main
from streamser.events import OodReport, SummaryEvent, UtteranceEvent

LABELS = ("neutral", "happy", "angry", "sad")


def session_lines(streams=("ch0", "ch1")) -> list[str]:
    lines = []
    for stream in streams:
        for seq, status in enumerate(["ok", "uncertain", "dropped", "ok", "ok"]):
            scores = dict(zip(LABELS, np.roll([0.7, 0.1, 0.1, 0.1], seq).tolist(), strict=True))
            top = max(scores, key=scores.get)
            if status == "dropped":
                event = UtteranceEvent(
                    stream=stream, seq=seq, start=seq * 2.0, end=seq * 2 + 1.5,
                    status="dropped", reason="overrun",
                )  # fmt: skip
            else:
                event = UtteranceEvent(
                    stream=stream, seq=seq, start=seq * 2.0, end=seq * 2 + 1.5, status=status,
                    reason=None if status == "ok" else "ood", label=top if status == "ok" else None,
                    confidence=0.7, scores=scores, ood=OodReport("energy", 1.0, 0.0),
                )  # fmt: skip
            lines.append(event.to_json())
    summary = SummaryEvent(
        status="completed", source="x.wav", streams={}, model={"name": "m", "sha256": "abcdef"}
    )
    return [*lines, summary.to_json()]


def png_size(path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


@pytest.mark.parametrize("size", [None, "800x600"])
def test_png_has_the_asked_size_and_is_not_blank(tmp_path, size):
    session = tmp_path / "session.jsonl"
    session.write_text("\n".join(session_lines()) + "\n")
    png = tmp_path / "trace.png"
    args = ["plot", str(session), "-o", str(png)] + (["--size", size] if size else [])
    assert main(args) == 0
    assert png_size(png) == ((1280, 720) if size is None else (800, 600))
    from matplotlib.image import imread

    pixels = imread(str(png))[..., :3]
    assert pixels.std() > 0.05
    not_white = (pixels < 0.95).any(axis=-1).mean()
    assert 0.02 < not_white < 0.9


def test_from_a_real_listen_session_on_stdin(untrained_model, tmp_path):
    from streamser.data import demo_audio_path

    listen = subprocess.run(
        [sys.executable, "-m", "streamser", "listen", str(demo_audio_path()),
         "--model", str(untrained_model)],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    png = tmp_path / "demo.png"
    result = subprocess.run(
        [sys.executable, "-m", "streamser", "plot", "-", "-o", str(png), "--size", "640x480"],
        input=listen.stdout, capture_output=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert png_size(png) == (640, 480)


@pytest.mark.parametrize(
    ("content", "args", "expected"),
    [
        ("not json\n", [], ":1: not JSON"),
        (json.dumps({"type": "summary"}) + "\n", [], "no utterance events"),
        (None, ["--size", "big"], "expected WIDTHxHEIGHT"),
        (None, ["--stream", "ch7"], "no stream ch7 (has: ch0, ch1)"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(tmp_path, capsys, content, args, expected):
    session = tmp_path / "session.jsonl"
    session.write_text(content if content is not None else "\n".join(session_lines()))
    assert main(["plot", str(session), "-o", str(tmp_path / "t.png"), *args]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def test_without_matplotlib_the_error_names_the_extra(tmp_path):
    session = tmp_path / "session.jsonl"
    session.write_text("\n".join(session_lines()))
    code = (
        "import sys; sys.modules['matplotlib'] = None; "
        "from streamser.cli.main import main; "
        f"sys.exit(main(['plot', {str(session)!r}, '-o', {str(tmp_path / 't.png')!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert "'plot' extra" in result.stderr and "matplotlib" in result.stderr
    assert result.stderr.count("\n") == 1
