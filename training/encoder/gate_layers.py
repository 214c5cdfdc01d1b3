"""Which encoder layer the accurate tier's gate reads (`recipe.GATE_OUTPUTS`).

For each layer, the shipped recipe's gate (`recipe.gate_calibration`: the same training
copies, real speech and threshold) fitted on that layer's statistics, then what it
accepts: the non-speech set's spans (as the runtime gate decides, the voicing test
included) and a seeded pick of the utterances of the real voices held out from the gate,
wideband and through a telephone line. No head is trained: the Mahalanobis score reads
the vectors alone. Prints JSON.

    python -m training.encoder.gate_layers --emodb DIR
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from streamser.audio.formats import int16_to_float
from streamser.labels import FOUR_CLASS
from streamser.ood import ood_score
from streamser.voicing import MIN_VOICED_SHARE, voiced_share
from training.encoder.graph import LAYER_OUTPUTS
from training.encoder.recipe import (
    SHIPPED,
    VALIDATION_SPEAKERS,
    Vectors,
    gate_calibration,
    pick_utterances,
    real_speech,
    variant,
)
from training.encoder.row import CACHED_CHANNELS, select, utterance_embeddings
from training.experiment import load_data

CANDIDATES = {
    "first layer": (LAYER_OUTPUTS[0],),
    "second layer": (LAYER_OUTPUTS[1],),
    "first and second layers": LAYER_OUTPUTS[:2],
    "third layer": (LAYER_OUTPUTS[2],),
}
HELD_OUT_SEED = 1
"""Seeds the pick of held-out voices' utterances (the recipe's own picks use 0)."""


def held_out_speech(pad: str, work: Path) -> tuple[dict, np.ndarray]:
    """Every cached channel's vectors of up to GATE_UTTERANCES_PER_SPEAKER utterances of
    each held-out Debian voice, and each row's corpus."""
    from training.real_speech import asterisk_prompts, gate_roles, hedgewars_lines

    speech = asterisk_prompts() + hedgewars_lines()
    roles = gate_roles(speech)
    held_out = sorted(s for s, role in roles.items() if role == "held out")
    chosen = pick_utterances(speech, held_out, np.random.default_rng(HELD_OUT_SEED))
    vectors = utterance_embeddings(chosen, pad, work / "embeddings")
    return vectors, np.array([u.corpus for u in chosen])


def non_speech(ood_sets: Path) -> tuple[dict, np.ndarray, np.ndarray]:
    """The non-speech set's spans: their encoder vectors (per output, one row a span),
    kinds and voicing verdicts."""
    from training.encoder.embeddings import Embedder
    from training.encoder.fetch import encoder_path
    from training.ood.sets import OodSetOptions, build_set

    spans = build_set("non-speech", ood_sets, OodSetOptions())
    embedder = Embedder(encoder_path())
    rows = [embedder.embed(clip) for clip in spans.audio]
    vectors = {name: np.stack([row[name] for row in rows]) for name in rows[0]}
    voiced = np.array([voiced_share(int16_to_float(a)) >= MIN_VOICED_SHARE for a in spans.audio])
    return vectors, np.array(spans.kinds), voiced


def accepted(calibration, vectors: np.ndarray) -> np.ndarray:
    logits = np.zeros((len(vectors), len(FOUR_CLASS)))  # unread by the Mahalanobis score
    return ood_score("mahalanobis", logits, vectors, calibration) >= calibration.threshold


def compare(emodb: Path, synthemo: Path, work: Path, ood_sets: Path, seed: int = 0) -> dict:
    emodb_utterances = [u for u in load_data((f"emodb={emodb}",)) if u.emotion in FOUR_CLASS]
    synthemo_utterances = load_data((str(synthemo),))
    vectors = Vectors(emodb_utterances + synthemo_utterances, variant(SHIPPED), work)
    train = [u for u in emodb_utterances if u.speaker not in VALIDATION_SPEAKERS]
    train += synthemo_utterances
    validation = [u for u in emodb_utterances if u.speaker in VALIDATION_SPEAKERS]
    held, corpus = held_out_speech(vectors.options.pad, work)
    spans, kinds, voiced = non_speech(ood_sets)
    results = {}
    for name, outputs in CANDIDATES.items():
        speech = real_speech(vectors.options, work, seed, outputs)
        positives = len(validation) * len(CACHED_CHANNELS) + len(speech.calibrate)
        logits = np.zeros((positives, len(FOUR_CLASS)))
        calibration = gate_calibration(vectors, train, validation, speech, logits, outputs)
        through = accepted(calibration, select(spans, outputs)) & voiced
        row = {"non-speech": round(float(through.mean()), 3), "spans": len(through)}
        row |= {
            f"non-speech: {kind}": f"{through[kinds == kind].mean():.0%} of {(kinds == kind).sum()}"
            for kind in sorted(set(kinds))
        }
        for channel in ("wideband", "telephone"):
            kept = accepted(calibration, select(held[channel], outputs))
            for name_of_corpus in sorted(set(corpus)):
                share = kept[corpus == name_of_corpus].mean()
                row[f"held-out voices, {name_of_corpus}, {channel}"] = round(float(share), 3)
        results[name] = row
        logging.info("%s: %s", name, row)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emodb", type=Path, required=True, help="the EmoDB folder")
    parser.add_argument(
        "--synthemo", type=Path, default=Path("runs/default-model/corpus/manifest.csv")
    )
    parser.add_argument("--work", type=Path, default=Path("runs/accurate"))
    parser.add_argument("--ood-sets", type=Path, default=Path("runs/default-model/ood-sets"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print(json.dumps(compare(args.emodb, args.synthemo, args.work, args.ood_sets), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
