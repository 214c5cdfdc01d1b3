"""Loaders for public emotional-speech corpora, label sets and speaker-independent splits.

Each corpus module parses that corpus's own layout and file names into `Utterance`
records in the shared vocabulary of `streamser.labels`; nothing here imports torch
or decodes audio. See README.md in this folder for where to get each corpus.
"""

from __future__ import annotations

from training.corpora.base import CorpusError, Utterance
from training.corpora.casia import load_casia
from training.corpora.cremad import load_cremad
from training.corpora.emodb import load_emodb
from training.corpora.enterface import load_enterface
from training.corpora.iemocap import load_iemocap
from training.corpora.labelmap import (
    DIDAN_CODES,
    DIDAN_TASKS,
    CrossCorpusTask,
    corpus_classes,
    cross_corpus_tasks,
    filter_classes,
    shared_classes,
)
from training.corpora.manifest import load_manifest
from training.corpora.ravdess import load_ravdess
from training.corpora.registry import CORPORA, LOADERS, Corpus, get_corpus, load_corpus
from training.corpora.splits import (
    Fold,
    Split,
    leave_one_group_out,
    leave_one_session_out,
    leave_one_speaker_out,
    speaker_split,
    take,
)

__all__ = [
    "CORPORA",
    "DIDAN_CODES",
    "DIDAN_TASKS",
    "LOADERS",
    "Corpus",
    "CorpusError",
    "CrossCorpusTask",
    "Fold",
    "Split",
    "Utterance",
    "corpus_classes",
    "cross_corpus_tasks",
    "filter_classes",
    "get_corpus",
    "leave_one_group_out",
    "leave_one_session_out",
    "leave_one_speaker_out",
    "load_casia",
    "load_corpus",
    "load_cremad",
    "load_emodb",
    "load_enterface",
    "load_iemocap",
    "load_manifest",
    "load_ravdess",
    "shared_classes",
    "speaker_split",
    "take",
]
