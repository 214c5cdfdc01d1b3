"""Where the bundled models are found, by name or as the default.

The repository keeps exported models in the top-level `models/` folder.
The wheel build copies that folder into this package (hatchling `force-include`
`models` -> `streamser/models`), so an installed streamser finds them here with
`importlib.resources`, and nothing is ever written into site-packages. The names
(`fast`, `accurate`) and what each file is are in `streamser.models.catalog`.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from streamser.errors import ModelError
from streamser.models.catalog import MODEL_NAMES, bundled

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


def bundled_model_path(name: str) -> Path:
    """The file of the bundled model called `name` (`fast`, `accurate`).

    Raises:
        ModelError: An unknown name, or a known model whose file is not installed.
    """
    model = bundled(name)
    if model is None:
        raise ModelError(f"no bundled model {name!r} (bundled: {', '.join(MODEL_NAMES)})")
    for folder in _model_folders():
        if (folder / model.file).is_file():
            return folder / model.file
    raise ModelError(
        f"the {name} model ({model.file}) is not installed; bin/make-accurate-model makes it"
        if name == "accurate"
        else f"the {name} model ({model.file}) is not installed"
    )


def resolve_model(spec: str | os.PathLike | None) -> Path:
    """What `--model` names: None for the default, a bundled model's name, or a path.

    A name wins over a file of the same name in the working directory: write
    `./fast` for that file.
    """
    if spec is None:
        return default_model_path()
    if isinstance(spec, str) and spec in MODEL_NAMES:
        return bundled_model_path(spec)
    return Path(spec)


def model_folders() -> list[Path]:
    """Where bundled model files are looked for, in order."""
    return _model_folders()


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
