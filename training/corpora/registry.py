"""Every corpus by name: its loader, its class set and its language.

Commands take a corpus name and a folder (`--corpus emodb=/data/emodb`); this is
where the name is looked up, so adding a corpus is one module plus one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.corpora import casia, cremad, emodb, enterface, iemocap, manifest, ravdess
from training.corpora.base import CorpusError, Utterance


@dataclass(frozen=True)
class Corpus:
    """A corpus the training side knows how to read.

    Attributes:
        name: Registry key, also the `Utterance.corpus` value and speaker prefix.
        title: Human-readable name for logs and model cards.
        load: `load(root, **options) -> list[Utterance]`.
        classes: Emotions the corpus has under its default options, in
            `streamser.labels.EMOTIONS` terms; None when it depends on the data
            (a manifest).
        language: ISO 639-1 code, or None when it depends on the data.
    """

    name: str
    title: str
    load: Callable[..., list[Utterance]]
    classes: tuple[str, ...] | None
    language: str | None


CORPORA: dict[str, Corpus] = {
    c.name: c
    for c in (
        Corpus(emodb.NAME, "EmoDB (Berlin)", emodb.load_emodb, emodb.CLASSES, "de"),
        Corpus(iemocap.NAME, "IEMOCAP", iemocap.load_iemocap, iemocap.CLASSES, "en"),
        Corpus(ravdess.NAME, "RAVDESS", ravdess.load_ravdess, ravdess.CLASSES, "en"),
        Corpus(casia.NAME, "CASIA", casia.load_casia, casia.CLASSES, "zh"),
        Corpus(enterface.NAME, "eNTERFACE'05", enterface.load_enterface, enterface.CLASSES, "en"),
        Corpus(cremad.NAME, "CREMA-D", cremad.load_cremad, cremad.CLASSES, "en"),
        Corpus(manifest.NAME, "CSV manifest", manifest.load_manifest, None, None),
    )
}

LOADERS: dict[str, Callable[..., list[Utterance]]] = {
    name: corpus.load for name, corpus in CORPORA.items()
}


def get_corpus(name: str) -> Corpus:
    """The registry entry for `name`.

    Raises:
        CorpusError: `name` is not a known corpus; the message lists the known ones.
    """
    try:
        return CORPORA[name.lower()]
    except KeyError:
        raise CorpusError(
            f"unknown corpus {name!r} (expected one of {', '.join(CORPORA)})"
        ) from None


def load_corpus(name: str, root: Path | str, **options: Any) -> list[Utterance]:
    """Load corpus `name` from `root`, passing `options` to its loader.

    Args:
        name: A key of `CORPORA` (case-insensitive).
        root: The corpus folder (for "manifest", the CSV file or its folder).
        **options: Loader keywords, e.g. `improvised_only=True` for IEMOCAP.

    Raises:
        CorpusError: Unknown name, or the loader's own errors for a wrong folder.
    """
    return get_corpus(name).load(root, **options)
