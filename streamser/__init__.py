"""streamser: real-time speech emotion recognition.

Importing the package loads numpy and the standard library only; heavier
dependencies are imported by the modules that need them. The Python API below
is imported on first use:

    from streamser import Recognizer
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "Recognizer": "streamser.recognizer",
    "RecognizerOptions": "streamser.streams",
    "StreamRecognizer": "streamser.recognizer",
    "SegmenterOptions": "streamser.segmenter",
    "VadOptions": "streamser.vad",
    "OodOptions": "streamser.ood",
    "ModelOptions": "streamser.model",
    "EmotionModel": "streamser.model",
    "FileSource": "streamser.sources",
    "PushSource": "streamser.sources",
    "Source": "streamser.sources",
    "Event": "streamser.events",
    "UtteranceEvent": "streamser.events",
    "StatsEvent": "streamser.events",
    "SummaryEvent": "streamser.events",
    "ErrorEvent": "streamser.events",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'streamser' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
