"""The cross-corpus tasks on real speech, their corpora and their development split.

Three table tasks:

- `synthemo->emodb`: SynthEmo (text-to-speech with rule-based emotional prosody,
  English) to EmoDB (ten German actors): the synthetic-to-real gap the bundled model
  spans. EmoDB's labels are read only to score.
- `emodb->synthemo`: the reverse.
- `synthemo+emodb->ivr`: both, labelled, to the Asterisk IVR prompts of five
  languages (`training.real_speech`), real telephone-voice speech no one labelled:
  scored by the share called neutral or withheld as uncertain, never by accuracy.

Every task uses the four classes neutral, happy, angry and sad: the sources' utterances
of other emotions are left out (source labels), while the target is adapted to
whole, every emotion in it, because choosing a target's utterances by emotion would be
reading its labels. The labelled targets are scored on their utterances of the four.

Development split (what alignment weights are chosen on; the table never scores it):
each labelled target corpus is split by speaker. EmoDB: speakers DEVELOPMENT_SPEAKERS
(the three lowest numbers) are development, the other seven the table's. SynthEmo:
within each engine, voices in sorted order, every third from the first is development.
Speakers are disjoint; sentences are not: every EmoDB actor reads the same ten
sentences, and SynthEmo voices draw from one pool of 65. The sources are used whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from streamser.labels import FOUR_CLASS
from training.adapt.data import clip_maps
from training.adapt.features import clip_keys, encoder_vectors
from training.adapt.network import DidanConfig, DidanNet
from training.adapt.targets import load_target
from training.corpora import Utterance, load_corpus, load_manifest

log = logging.getLogger(__name__)

CLASSES: tuple[str, ...] = FOUR_CLASS
DEVELOPMENT = "development"
TABLE = "table"
DEVELOPMENT_SPEAKERS = ("emodb:03", "emodb:08", "emodb:09")
SYNTHEMO_DEVELOPMENT_EVERY = 3
CACHE_VERSION = 1


@dataclass(frozen=True)
class Task:
    """One adaptation task: labelled source corpora -> one part of a target corpus.

    Attributes:
        name: "synthemo->emodb", ...
        sources: Corpus keys, used whole (their utterances of CLASSES).
        target: Corpus key.
        part: TABLE or DEVELOPMENT: the target utterances adapted to and scored.
        labelled: Whether the target has labels to score with (the IVR prompts do not).
    """

    name: str
    sources: tuple[str, ...]
    target: str
    part: str
    labelled: bool = True


TABLE_TASKS = (
    Task("synthemo->emodb", ("synthemo",), "emodb", TABLE),
    Task("emodb->synthemo", ("emodb",), "synthemo", TABLE),
    Task("synthemo+emodb->ivr", ("synthemo", "emodb"), "ivr", TABLE, labelled=False),
)
DEVELOPMENT_TASKS = (
    Task("synthemo->emodb", ("synthemo",), "emodb", DEVELOPMENT),
    Task("emodb->synthemo", ("emodb",), "synthemo", DEVELOPMENT),
)


def synthemo_development_voices(utterances: Sequence[Utterance]) -> set[str]:
    """Every third voice of each engine, in sorted order, from the first."""
    chosen: set[str] = set()
    for corpus in sorted({u.corpus for u in utterances}):
        voices = sorted({u.speaker for u in utterances if u.corpus == corpus})
        chosen |= set(voices[::SYNTHEMO_DEVELOPMENT_EVERY])
    return chosen


def parts_of(key: str, utterances: Sequence[Utterance]) -> list[str]:
    """DEVELOPMENT or TABLE per utterance (by speaker; the IVR prompts are all TABLE)."""
    if key == "emodb":
        return [DEVELOPMENT if u.speaker in DEVELOPMENT_SPEAKERS else TABLE for u in utterances]
    if key == "synthemo":
        development = synthemo_development_voices(utterances)
        return [DEVELOPMENT if u.speaker in development else TABLE for u in utterances]
    return [TABLE] * len(utterances)


def corpus_utterances(key: str, path: Path | None) -> list[Utterance]:
    if key == "emodb":
        return load_corpus("emodb", path)
    if key == "synthemo":
        return load_manifest(path)
    if key == "ivr":
        from training.real_speech import asterisk_prompts

        return asterisk_prompts()
    raise ValueError(f"unknown corpus {key!r}")


def cache_corpus(
    key: str,
    path: Path | None,
    cache_dir: Path,
    features: str = "log-mel",
    embeddings: Path | None = None,
) -> Path:
    """A file with the network's input for every utterance of a corpus, made once.

    Holds per utterance: its map (pooled log-mel, or with `features="encoder"` its
    encoder vector, cached per utterance under `embeddings`), its part, its speaker and,
    for labelled corpora, its emotion (read by the runner to build sources and to score
    targets, never to adapt). A long IVR prompt is cut into utterances like any
    unlabelled target; its pieces share the prompt's speaker.
    """
    extractor = DidanNet(DidanConfig(classes=CLASSES))
    identity = [key, str(path.resolve()) if path else None, extractor.config.to_dict()]
    if features != "log-mel":
        identity.append(features)
    key_text = json.dumps([*identity, CACHE_VERSION], sort_keys=True, default=str)
    out = cache_dir / f"{key}-{hashlib.sha256(key_text.encode()).hexdigest()[:12]}.pt"
    if out.exists():
        return out
    utterances = corpus_utterances(key, path)
    parts = parts_of(key, utterances)
    audio = load_target([u.path for u in utterances])
    kept = set(audio.files)
    owners = [u for u in utterances if u.path in kept]  # in the order of audio.files
    owner_parts = [p for u, p in zip(utterances, parts, strict=True) if u.path in kept]
    if features == "encoder":
        if embeddings is None:
            raise ValueError("encoder features need an embeddings cache folder")
        keys = clip_keys(audio.files, audio.origins, audio.whole)
        maps = encoder_vectors(keys, lambda idx: [audio.clips[i] for i in idx], embeddings)
    else:
        maps = clip_maps(audio.clips, extractor.maps, extractor.min_samples)
    data = {
        "maps": maps,
        "part": [owner_parts[o] for o in audio.origins],
        "speaker": [owners[o].speaker for o in audio.origins],
        "emotion": None if key == "ivr" else [owners[o].emotion for o in audio.origins],
        "source_files": len(utterances),
        "skipped_files": len(audio.skipped),
    }
    cache_dir.mkdir(parents=True, exist_ok=True)
    torch.save(data, out)
    log.info("%s: %d utterances from %d files cached", key, len(maps), len(audio.files))
    return out


SYNTHEMO_ENGINES = ("espeak-ng", "flite", "festival")
SYNTHEMO_PER_CLASS = 60
"""The bundled model's SynthEmo (`bin/make-default-model`): 60 files per emotion and engine."""


def ensure_synthemo(root: Path, workers: int, per_class: int = SYNTHEMO_PER_CLASS) -> Path:
    """SynthEmo's four-class corpus of the three Debian engines under `root` (made or
    resumed, seed 0); returns its manifest."""
    from training.synthemo.generate import generate
    from training.synthemo.plan import SynthOptions

    manifest = root / "manifest.csv"
    if not manifest.exists():
        options = SynthOptions(
            engines=SYNTHEMO_ENGINES, emotions=FOUR_CLASS, per_class=per_class, seed=0
        )
        generate(options, root, workers=workers)
    return manifest
