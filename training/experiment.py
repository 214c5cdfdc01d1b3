"""From a training config to the three utterance lists a run works on.

Deterministic for a config: training, export (OOD calibration on the
validation set) and evaluation all rebuild the same split from the same seed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamser.errors import StreamserError
from training.config import TrainConfig
from training.corpora import Utterance, load_corpus, load_manifest, speaker_split, take

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Partition:
    """Speaker-disjoint training, validation and test utterances.

    Attributes:
        held_out_texts: Sentence ids that appear only in `test`.
    """

    train: list[Utterance]
    validation: list[Utterance]
    test: list[Utterance]
    held_out_texts: tuple[str, ...]

    def describe(self) -> str:
        def speakers(part: list[Utterance]) -> int:
            return len({u.speaker for u in part})

        return (
            f"train {len(self.train)} utterances / {speakers(self.train)} speakers, "
            f"validation {len(self.validation)} / {speakers(self.validation)}, "
            f"test {len(self.test)} / {speakers(self.test)}"
        )


def load_data(specs: tuple[str, ...]) -> list[Utterance]:
    """Each spec is NAME=PATH for a corpus loader, or a path to a manifest CSV."""
    utterances: list[Utterance] = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if sep:
            utterances += load_corpus(name, Path(path))
        else:
            utterances += load_manifest(Path(spec))
    return utterances


def select(utterances: list[Utterance], config: TrainConfig) -> list[Utterance]:
    kept = [u for u in utterances if u.emotion in config.classes]
    if config.languages:
        kept = [u for u in kept if u.language is None or u.language in config.languages]
    missing = sorted(set(config.classes) - {u.emotion for u in kept})
    if missing:
        raise StreamserError(f"the training data has no utterances of: {', '.join(missing)}")
    return kept


def partition(config: TrainConfig, utterances: list[Utterance] | None = None) -> Partition:
    """Speaker-disjoint split; with text ids, some sentences are kept for the test set only."""
    data = select(load_data(config.data) if utterances is None else utterances, config)
    split = speaker_split(data, config.split_fractions, seed=config.seed)
    train, validation, test = (take(data, part) for part in (split.train, split.val, split.test))
    texts = sorted({u.text_id for u in data if u.text_id is not None})
    held_out: tuple[str, ...] = ()
    if texts and config.hold_out_texts > 0:
        rng = np.random.default_rng([config.seed, 7])
        count = max(1, round(len(texts) * config.hold_out_texts))
        held_out = tuple(sorted(rng.choice(texts, size=count, replace=False).tolist()))
        hidden = set(held_out)
        train = [u for u in train if u.text_id not in hidden]
        validation = [u for u in validation if u.text_id not in hidden]
        test = [u for u in test if u.text_id in hidden]
    result = Partition(train=train, validation=validation, test=test, held_out_texts=held_out)
    if not (train and validation and test):
        raise StreamserError(f"the data is too small to split by speaker: {result.describe()}")
    log.info("%s", result.describe())
    return result


def test_split_of(checkpoint_path: Path) -> list[Utterance]:
    """The held-out test utterances of the run that wrote `checkpoint_path`."""
    from training.checkpoint import load_checkpoint

    config = TrainConfig.from_dict(load_checkpoint(checkpoint_path).train_config)
    return partition(config).test
