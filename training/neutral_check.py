"""Does a model call real, mostly neutral speech neutral, or say it is uncertain?

Telephone IVR prompts (one professional speaker per language) are calm by design:
a model that labels many of them angry or sad will do the same to a calm caller.
The check runs an exported model the way the runtime does: each recording is cut by
the runtime's segmenter, each speaker is one stream (so a speaker-normalised model
builds its statistics as in service), and the gate decides. Acted game lines
(hedgewars) are reported beside them as real speech that is not neutral by design,
for the gate's acceptance only.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np

from streamser.audio import load_mono
from streamser.audio.formats import int16_to_float
from streamser.labels import NEUTRAL
from streamser.model import EmotionModel
from streamser.ood import OodGate
from streamser.speaker import SpeakerStatistics
from training.corpora import Utterance
from training.ood.sets import segment
from training.real_speech import asterisk_prompts, hedgewars_lines

log = logging.getLogger(__name__)

UNCERTAIN = "uncertain"


def label_shares(model_path: Path, utterances: list[Utterance]) -> dict:
    """Per speaker: the share of segmented utterances given each label or `uncertain`,
    and the share the gate's voicing test alone would call not speech."""
    model = EmotionModel.load(model_path)
    gate = OodGate(model.metadata.ood)
    counts: dict[str, Counter] = {}
    unvoiced: Counter = Counter()
    streams: dict[str, SpeakerStatistics] = {}
    for utterance in utterances:
        speaker = streams.setdefault(utterance.speaker, SpeakerStatistics())
        tally = counts.setdefault(utterance.speaker, Counter())
        for span in segment(load_mono(utterance.path)):
            audio = int16_to_float(span)
            inference = model.infer(audio, speaker)
            decision = gate.judge(inference, audio)
            label = model.labels[int(np.argmax(inference.logits))]
            tally[label if decision.accepted else UNCERTAIN] += 1
            unvoiced[utterance.speaker] += decision.not_voiced
    return {
        speaker: {
            "utterances": sum(tally.values()),
            "shares": {k: v / sum(tally.values()) for k, v in sorted(tally.items())},
            "not_voiced": unvoiced[speaker] / sum(tally.values()),
        }
        for speaker, tally in counts.items()
    }


def real_speech_check(model_path: Path) -> dict:
    """IVR prompts: share neutral or uncertain; game lines: share accepted."""
    prompts = label_shares(model_path, asterisk_prompts())
    for result in prompts.values():
        shares = result["shares"]
        result["neutral_or_uncertain"] = shares.get(NEUTRAL, 0.0) + shares.get(UNCERTAIN, 0.0)
    lines = label_shares(model_path, hedgewars_lines())
    accepted = [(1.0 - r["shares"].get(UNCERTAIN, 0.0)) * r["utterances"] for r in lines.values()]
    total = sum(r["utterances"] for r in lines.values())
    not_voiced = sum(r["not_voiced"] * r["utterances"] for r in lines.values())
    per_pack = {
        speaker: {"utterances": r["utterances"], "accepted": 1.0 - r["shares"].get(UNCERTAIN, 0.0)}
        for speaker, r in lines.items()
    }
    return {
        "ivr_prompts": prompts,
        "game_lines": {
            "utterances": total,
            "accepted": sum(accepted) / max(total, 1),
            "not_voiced": not_voiced / max(total, 1),
            "speakers": per_pack,
        },
    }
