"""Where the bundled default model is found.

The repository keeps exported models in the top-level `models/` folder.
The wheel build copies that folder into this package (hatchling `force-include`
`models` -> `streamser/models`), so an installed streamser finds them here with
`importlib.resources`, and nothing is ever written into site-packages.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from streamser.errors import ModelError

DEFAULT_MODEL_FILE = "default.onnx"
"""The bundled model the CLI and `Recognizer()` use when no path is given."""


def default_model_path() -> Path:
    """The bundled default model.

    Looks for `default.onnx`, or else the only `*.onnx`, in the package's `models`
    data, then in the repository's top-level `models/`.

    Raises:
        ModelError: No bundled model, or several without a `default.onnx`.
    """
    for folder in _model_folders():
        candidates = sorted(p for p in folder.glob("*.onnx") if p.is_file())
        if not candidates:
            continue
        preferred = folder / DEFAULT_MODEL_FILE
        if preferred.is_file():
            return preferred
        if len(candidates) == 1:
            return candidates[0]
        names = ", ".join(p.name for p in candidates)
        raise ModelError(
            f"several bundled models ({names}) and no {DEFAULT_MODEL_FILE}; pass --model"
        )
    raise ModelError("no bundled model found; pass --model")


def _model_folders() -> list[Path]:
    folders = [Path(str(resources.files(__name__)))]
    # In an editable/development install this package is the source folder, which
    # holds only this module: the force-include happens when a wheel is built. The
    # models then live in the repository's top-level `models/`, two levels up.
    # pyproject.toml marks a checkout: next to an installed package the same
    # relative path is site-packages/models, which may belong to anyone.
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "models").is_dir():
        folders.append(root / "models")
    return folders
