"""Make the accurate model (`bin/make-accurate-model --emodb DIR`).

The fast model's data (EmoDB and SynthEmo, `training.default_model`) under a frozen
pretrained encoder (`training.encoder`):

1. the encoder's vectors of every utterance, wideband, through a telephone line and
   with the margins the runtime's segmenter leaves around an utterance (cached: later
   steps and reruns read them);
2. leave-one-speaker-out cross-validation on EmoDB with the shipped head and its
   ablation, 4 classes (also with SynthEmo added to every fold's training set) and
   7 classes;
3. cross-domain: trained on SynthEmo only -> all of EmoDB, and EmoDB only -> SynthEmo,
   with the fast model's SynthEmo split;
4. the shipped head: EmoDB and SynthEmo, the fast model's two EmoDB validation
   speakers held out for the epoch and the gate;
5. export, the OOD sets, real speech, the cost of one utterance and the card.

It ships (`models/accurate.onnx`) only when its EmoDB cross-validation beats the fast
model's by SHIP_MARGIN; otherwise the file stays in the work folder and the card says
why. Every step resumes where it stopped.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tomllib

from streamser.labels import FOUR_CLASS, SEVEN_CLASS
from streamser.model import GATE_FEATURES_OUTPUT_NAME
from training.corpora import Utterance
from training.crossval import CrossValidation, CrossValidationPlan, EncoderRow
from training.data import LabelSpace
from training.encoder.card import fast_reference, finish
from training.encoder.graph import LAYER_OUTPUTS
from training.encoder.head import ATTRIBUTES, HeadData, HeadOptions, head_outputs, train_head
from training.encoder.row import (
    CACHED_CHANNELS,
    channel_data,
    head_data,
    select,
    training_channels,
    utterance_embeddings,
)
from training.experiment import load_data
from training.metrics import unweighted_accuracy

log = logging.getLogger(__name__)

MODEL_NAME = "smart-turn-msac-real-4"
MODEL_FILE = "accurate.onnx"
VARIANTS_DIR = Path(__file__).parent / "variants"
SHIPPED = "accurate"
ABLATION = (
    SHIPPED,
    "accurate-no-msac",
    "accurate-no-speaker-norm",
    "accurate-second-layer",
    "accurate-pooled",
)
VALIDATION_SPEAKERS = ("emodb:03", "emodb:08")
"""The fast model's validation voices (`training.default_model`), chosen before any result."""
GATE_UTTERANCES_PER_SPEAKER = 100
"""Real speech per Debian speaker for the gate: enough for its centres and spread."""
SHIP_MARGIN = 0.03
"""Below the fast model's EmoDB UA plus this, the accurate tier is not worth its cost."""
GATE_OUTPUTS = LAYER_OUTPUTS[:2]
"""What the gate reads: the first and second layers' statistics side by side, which the
file outputs beside the head's (`gate_features`). With the head's first-layer features
alone the previous file's gate accepted 6 % of the non-speech set (music 15 %, noise bursts
13 %). `python -m training.encoder.gate_layers` fits the same gate on each layer: the
first two side by side let through the least non-speech (2.6 %) and the most held-out
game lines (docs/OOD.md, "The accurate tier's gate")."""


def variant(name: str) -> HeadOptions:
    return HeadOptions.from_dict(tomllib.loads((VARIANTS_DIR / f"{name}.toml").read_text()))


@dataclass(frozen=True)
class Recipe:
    """Attributes:
    emodb: The EmoDB folder (the original corpus or a processed copy).
    synthemo: The SynthEmo manifest (`bin/make-default-model` makes it).
    seed: Seeds heads and the SynthEmo split.
    """

    emodb: Path
    synthemo: Path
    seed: int = 0

    @property
    def emodb_spec(self) -> str:
        return f"emodb={self.emodb}"


def cross_validate(recipe: Recipe, work: Path) -> dict[str, dict]:
    plans = {
        "4-class": (FOUR_CLASS, (), ABLATION),
        "4-class-with-synthemo": (FOUR_CLASS, (str(recipe.synthemo),), (SHIPPED,)),
        "7-class": (SEVEN_CLASS, (), (SHIPPED,)),
    }
    reports = {}
    for name, (classes, extra, rows) in plans.items():
        plan = CrossValidationPlan(
            data=(recipe.emodb_spec,), extra=extra, classes=classes, seed=recipe.seed
        )
        encoder_rows = [EncoderRow(row, variant(row)) for row in rows]
        cv = CrossValidation(plan, encoder_rows, work / "cv" / name, embeddings=work / "embeddings")
        reports[name] = cv.run()
    return reports


class Vectors:
    """The cached encoder vectors of a set of utterances, as head data."""

    def __init__(self, utterances: list[Utterance], options: HeadOptions, work: Path) -> None:
        self.utterances = utterances
        self.options = options
        self.vectors = utterance_embeddings(utterances, options.pad, work / "embeddings")
        self.rows = {str(u.path): i for i, u in enumerate(utterances)}

    def _rows(self, chosen: list[Utterance]) -> np.ndarray:
        return np.array([self.rows[str(u.path)] for u in chosen])

    def data(self, chosen: list[Utterance], labels: LabelSpace, channels) -> HeadData:
        """The chosen channels' copies, each but the wideband one a stream of its own."""
        return channel_data(
            self.utterances, self._rows(chosen), self.vectors, FOUR_CLASS, labels,
            self.options, channels,
        )  # fmt: skip

    def channel(self, chosen: list[Utterance], labels: LabelSpace, channel: str) -> HeadData:
        """One channel only, each speaker one stream."""
        x = select(self.vectors[channel], self.options.outputs)[self._rows(chosen)]
        return head_data(chosen, x, FOUR_CLASS, labels)

    def gate(self, chosen: list[Utterance], channels, outputs=GATE_OUTPUTS) -> np.ndarray:
        """The gate's vectors (`outputs`) of the chosen channels' copies, in the order
        `data` gives the head's."""
        return np.concatenate(
            [select(self.vectors[c], outputs)[self._rows(chosen)] for c in channels]
        )


def trained(
    vectors: Vectors, train: list[Utterance], validation: list[Utterance], options: HeadOptions
):
    labels = LabelSpace.build(train, FOUR_CLASS, ATTRIBUTES)
    train_data = vectors.data(train, labels, training_channels(options))
    validation_data = vectors.data(validation, labels, CACHED_CHANNELS)
    head, record = train_head(train_data, validation_data, FOUR_CLASS, options)
    return head, record, labels, train_data, validation_data


def scores(head, vectors: Vectors, test: list[Utterance], labels: LabelSpace) -> dict[str, dict]:
    """UA per channel, each test speaker normalised with their own utterances."""
    out = {}
    for channel in ("wideband", "telephone"):
        data = vectors.channel(test, labels, channel)
        logits, _ = head_outputs(head, data.x, data.speakers)
        out[channel] = {
            "unweighted_accuracy": unweighted_accuracy(data.emotion, logits.argmax(axis=1)),
            "utterances": len(test),
        }
    return out


def cross_domain(recipe: Recipe, vectors: Vectors, emodb: list[Utterance]) -> dict[str, dict]:
    """SynthEmo only -> EmoDB (the fast model's SynthEmo split) and EmoDB only -> SynthEmo."""
    from training.config import TrainConfig
    from training.experiment import partition

    config = TrainConfig(data=(str(recipe.synthemo),), classes=FOUR_CLASS, seed=recipe.seed)
    synth = partition(config)
    options = vectors.options
    results = {}
    head, _, labels, *_ = trained(vectors, synth.train, synth.validation, options)
    results["synthemo-only -> emodb"] = scores(head, vectors, emodb, labels)
    train = [u for u in emodb if u.speaker not in VALIDATION_SPEAKERS]
    validation = [u for u in emodb if u.speaker in VALIDATION_SPEAKERS]
    head, _, labels, *_ = trained(vectors, train, validation, options)
    everything = synth.train + synth.validation + synth.test
    results["emodb-only -> synthemo"] = scores(head, vectors, everything, labels)
    return results


@dataclass(frozen=True)
class RealSpeech:
    """Unlabelled real speech for the gate (`training.real_speech`), by role: the gate's
    vectors (GATE_OUTPUTS) of the speakers that fit it and of those that set its
    threshold, every cached channel, and the head's input features of the latter;
    `streams` names each calibration row's stream."""

    fit: np.ndarray
    calibrate: np.ndarray
    calibrate_features: np.ndarray
    streams: list[str]
    roles: dict[str, str]


def pick_utterances(
    speech: list[Utterance], speakers: list[str], rng: np.random.Generator
) -> list[Utterance]:
    """Up to GATE_UTTERANCES_PER_SPEAKER utterances of each speaker in turn, a pick drawn
    from `rng`, each speaker's in corpus order."""
    chosen: list[Utterance] = []
    for speaker in speakers:
        theirs = [u for u in speech if u.speaker == speaker]
        pick = rng.choice(len(theirs), min(GATE_UTTERANCES_PER_SPEAKER, len(theirs)), False)
        chosen += [theirs[i] for i in sorted(pick)]
    return chosen


def real_speech(
    options: HeadOptions, work: Path, seed: int, gate_outputs=GATE_OUTPUTS
) -> RealSpeech:
    """Up to GATE_UTTERANCES_PER_SPEAKER utterances (a seeded pick) of every Debian
    speaker that fits or calibrates the gate; held-out speakers are not read."""
    from training.real_speech import asterisk_prompts, gate_roles, hedgewars_lines

    speech = asterisk_prompts() + hedgewars_lines()
    roles = gate_roles(speech)
    gate_speakers = [s for s, role in sorted(roles.items()) if role in ("fit", "calibrate")]
    chosen = pick_utterances(speech, gate_speakers, np.random.default_rng(seed))
    vectors = utterance_embeddings(chosen, options.pad, work / "embeddings")
    role_of = np.array([roles[u.speaker] for u in chosen])

    def stacked(role: str, outputs=gate_outputs) -> np.ndarray:
        rows = role_of == role
        return np.concatenate([select(vectors[c], outputs)[rows] for c in CACHED_CHANNELS])

    streams = [
        f"{u.speaker}|{c}"
        for c in CACHED_CHANNELS
        for u in chosen
        if roles[u.speaker] == "calibrate"
    ]
    return RealSpeech(
        stacked("fit"),
        stacked("calibrate"),
        stacked("calibrate", options.outputs),
        streams,
        roles,
    )


def gate_calibration(
    vectors: Vectors,
    train: list[Utterance],
    validation: list[Utterance],
    speech: RealSpeech,
    logits: np.ndarray,
    gate_outputs=GATE_OUTPUTS,
):
    """The gate on `gate_outputs` (which `speech` must hold): Mahalanobis parameters from
    the training copies and `speech.fit`, the threshold from the validation speakers'
    copies and `speech.calibrate`, whose head `logits` serve the logit methods' quantiles
    (the Mahalanobis score does not read them)."""
    from training.ood.calibration import calibrate, embedding_params

    options = vectors.options
    channels = training_channels(options)
    emotion = np.tile([FOUR_CLASS.index(u.emotion) for u in train], len(channels))
    params = embedding_params(
        vectors.gate(train, channels, gate_outputs), emotion, len(FOUR_CLASS), options.seed,
        precision_dtype="float16", speech=speech.fit,
    )  # fmt: skip
    positives = [vectors.gate(validation, CACHED_CHANNELS, gate_outputs), speech.calibrate]
    return calibrate(
        logits, np.concatenate(positives), method="mahalanobis", params=params,
        vector=GATE_FEATURES_OUTPUT_NAME,
    )  # fmt: skip


def shipped_head(
    vectors: Vectors, emodb: list[Utterance], synthemo: list[Utterance], speech: RealSpeech
):
    """EmoDB (but its validation speakers) and SynthEmo train; the validation speakers
    choose the epoch. The gate reads the encoder's GATE_OUTPUTS: fitted on the training
    data and on real speech of other voices and languages (`RealSpeech.fit`), its
    threshold set on the validation speakers and on further real voices
    (`RealSpeech.calibrate`), wideband, through the line and with the segmenter's
    margins, so that neither a call, nor the runtime's cut, nor a voice unlike the
    corpora's is out of distribution for what it is."""
    train = [u for u in emodb if u.speaker not in VALIDATION_SPEAKERS] + synthemo
    validation = [u for u in emodb if u.speaker in VALIDATION_SPEAKERS]
    options = vectors.options
    head, record, _, _, validation_data = trained(vectors, train, validation, options)
    features = np.concatenate([validation_data.x, speech.calibrate_features])
    streams = list(validation_data.speakers) + speech.streams
    logits, _ = head_outputs(head, features, streams)
    calibration = gate_calibration(vectors, train, validation, speech, logits)
    training = {
        "corpora": sorted({u.corpus for u in train}),
        "protocol": "speaker-disjoint train/validation",
        "utterances": {"train": len(train), "validation": len(validation), "test": 0},
        "validation_speakers": list(VALIDATION_SPEAKERS),
        "gate_real_speech": {
            role: sorted(k for k, v in speech.roles.items() if v == role)
            for role in ("fit", "calibrate")
        },
        "loss": "am-softmax",
        "msac": [f"{name}:{'joint' if name == 'gender' else 'adversarial'}" for name in ATTRIBUTES],
        **record,
    }
    return head, calibration, training


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emodb", type=Path, required=True, help="the EmoDB folder")
    parser.add_argument(
        "--synthemo",
        type=Path,
        default=Path("runs/default-model/corpus/manifest.csv"),
        help="the SynthEmo manifest (default: bin/make-default-model's, %(default)s)",
    )
    parser.add_argument("--work", type=Path, default=Path("runs/accurate"))
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument(
        "--ood-sets", type=Path, default=Path("runs/default-model/ood-sets"),
        help="rendered OOD sets, shared with the fast model's recipe (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--card-only", action="store_true",
        help="write the card again from the evaluation file beside the model, nothing else",
    )  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.card_only:
        return _card_only(args.models)
    started = time.perf_counter()
    recipe = Recipe(emodb=args.emodb, synthemo=args.synthemo)
    work = args.work
    from training.encoder.fetch import encoder_path, fetch_encoder

    encoder = encoder_path()
    emodb = [u for u in load_data((recipe.emodb_spec,)) if u.emotion in FOUR_CLASS]
    synthemo = load_data((str(recipe.synthemo),))
    vectors = Vectors(emodb + synthemo, variant(SHIPPED), work)
    reports = cross_validate(recipe, work)
    domains = cross_domain(recipe, vectors, emodb)
    speech = real_speech(vectors.options, work, recipe.seed)
    head, calibration, training = shipped_head(vectors, emodb, synthemo, speech)

    fast = fast_reference(args.models)
    ours = _summary(reports["4-class"], SHIPPED, "wideband")["ua_mean"]
    ships = fast is None or ours >= fast["loso_wideband"] + SHIP_MARGIN
    target = (args.models if ships else work) / MODEL_FILE
    from training.encoder.export import export_accurate

    export_accurate(
        encoder, head, FOUR_CLASS, calibration, target, MODEL_NAME, training, GATE_OUTPUTS
    )
    validation = [u for u in emodb if u.speaker in VALIDATION_SPEAKERS]
    folder = args.models if ships else work
    if ships:
        for licence in fetch_encoder().licences:  # the encoder's notices travel with it
            shutil.copyfile(licence, folder / licence.name)
    finish(
        target, folder, reports, domains, fast, ships, args.ood_sets, validation, SHIPPED,
        started, speech.roles,
    )  # fmt: skip
    return 0


def _card_only(models: Path) -> int:
    import json

    from training.encoder.card import CARD_FILE, EVALUATION_FILE, render

    summary = json.loads((models / EVALUATION_FILE).read_text())
    (models / CARD_FILE).write_text(render(summary, models / MODEL_FILE))
    return 0


def _summary(report: dict, row: str, channel: str) -> dict:
    return next(s for s in report["summaries"] if (s["row"], s["channel"]) == (row, channel))


if __name__ == "__main__":
    raise SystemExit(main())
