"""The accurate model's record: its evaluation JSON and card, from what the recipe measured.

The evaluation file has the fast model's layout (`crossval`, `cross_domain`,
`shipped.variant`), so `streamser models` reads the headline numbers of both alike.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from string import Template

import numpy as np

from streamser.metadata import ModelMetadata
from training.corpora import Utterance
from training.crossval_report import (
    compact_report,
    markdown_table,
    readings_section,
    selective_table,
)
from training.encoder.fetch import ATTRIBUTION
from training.model_card import VOICING, cross_domain_rows, real_speech_table

log = logging.getLogger(__name__)

FAST_EVALUATION = "default-evaluation.json"
EVALUATION_FILE = "accurate-evaluation.json"
CARD_FILE = "ACCURATE_MODEL_CARD.md"
OOD_FILE = "accurate-ood.json"
COST_SECONDS = 3.0
COST_RUNS = 20


def fast_reference(models: Path) -> dict | None:
    """The fast model's headline numbers from its evaluation file (None without one)."""
    path = models / FAST_EVALUATION
    if not path.exists():
        return None
    return headline(json.loads(path.read_text()))


def headline(evaluation: dict) -> dict:
    """EmoDB LOSO 4-class UA (wideband, telephone) of the shipped row, 7-class UA, and
    SynthEmo-only -> EmoDB UA: the numbers `streamser models` shows."""
    row = evaluation["shipped"]["variant"]

    def ua(report: str, channel: str) -> float | None:
        summaries = evaluation["crossval"].get(report, {}).get("summaries", [])
        found = [s["ua_mean"] for s in summaries if (s["row"], s["channel"]) == (row, channel)]
        return found[0] if found else None

    synthetic = evaluation["cross_domain"]["synthemo-only -> emodb"]
    return {
        "loso_wideband": ua("4-class", "wideband"),
        "loso_telephone": ua("4-class", "telephone"),
        "loso_7_class": ua("7-class", "wideband"),
        "synthetic_wideband": synthetic["wideband"]["unweighted_accuracy"],
        "synthetic_telephone": synthetic["telephone"]["unweighted_accuracy"],
    }


def measure_cost(model_path: Path) -> dict:
    """Milliseconds per 3 s utterance on one thread: wall time and the thread's CPU time
    (on a busy machine the CPU time is what an idle core would take)."""
    from streamser.audio import load_mono
    from streamser.audio.formats import int16_to_float
    from streamser.data import demo_audio_path
    from streamser.model import EmotionModel, ModelOptions

    model = EmotionModel.load(model_path, ModelOptions(threads=1))
    demo = int16_to_float(load_mono(demo_audio_path()))
    waveform = np.resize(demo, int(COST_SECONDS * 16000))
    for _ in range(3):
        model.infer(waveform)
    wall, cpu = [], []
    for _ in range(COST_RUNS):
        began, began_cpu = time.perf_counter(), time.thread_time()
        model.infer(waveform)
        wall.append(1000 * (time.perf_counter() - began))
        cpu.append(1000 * (time.thread_time() - began_cpu))
    return {
        "utterance_seconds": COST_SECONDS,
        "threads": 1,
        "wall_ms_p50": round(float(np.median(wall)), 1),
        "cpu_ms_p50": round(float(np.median(cpu)), 1),
        "file_mb": round(model_path.stat().st_size / 1e6, 2),
    }


def finish(
    model_path: Path,
    folder: Path,
    reports: dict[str, dict],
    cross_domain: dict,
    fast: dict | None,
    ships: bool,
    ood_sets: Path,
    validation: list[Utterance],
    shipped: str,
    started: float,
    gate_roles: dict[str, str],
) -> Path:
    """OOD sets, real speech and cost of the written model; then its evaluation file and
    card in `folder`. `validation` are the shipped head's validation utterances (the
    gate's positives), `shipped` its row in the reports, `started` the recipe's
    `time.perf_counter()` when it began, `gate_roles` each real speaker's part in the
    gate (`training.real_speech.gate_roles`). Returns the card."""
    from training.neutral_check import real_speech_check
    from training.ood.evaluate_model import evaluate_exported
    from training.ood.report import card_tables, write_json
    from training.ood.sets import SET_NAMES

    title = "accurate tier: held-out EmoDB speakers (the calibration set) vs OOD sets"
    ood = evaluate_exported(model_path, validation, validation, SET_NAMES, ood_sets, title)
    write_json(ood, folder / OOD_FILE)
    summary = {
        "model": model_path.name,
        "sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
        "ships": ships,
        "shipped": {
            "variant": shipped,
            "validation_speakers": sorted({u.speaker for u in validation}),
        },
        "crossval": {name: compact_report(report) for name, report in reports.items()},
        "cross_domain": cross_domain,
        "fast_reference": fast,
        "cost": measure_cost(model_path),
        "ood_table": card_tables(ood),
        "real_speech": real_speech_check(model_path),
        "gate_roles": gate_roles,
    }
    summary["minutes"] = (time.perf_counter() - started) / 60
    summary["headline"] = headline(summary)
    (folder / EVALUATION_FILE).write_text(json.dumps(summary, indent=1))
    card = folder / CARD_FILE
    card.write_text(render(summary, model_path))
    return card


CARD = Template("""\
# Model card: $name (the accurate tier)

**A pretrained speech encoder under an AM-softmax head.** The fast model's data (EmoDB:
ten German actors; SynthEmo: synthetic English) trained a small head on a frozen
encoder pretrained on far more speech: Smart Turn v3.2, Whisper-tiny's encoder fine-tuned
for end-of-turn detection on human and synthetic speech in 23 languages. Ten real voices
in one language are still very little: read the numbers below as what it does on
speakers it never heard from the same corpus.

| | |
| --- | --- |
| file | `$file` ($size_mb MB), sha256 `$sha256` |
| labels | $labels |
| input | mono float32 waveform, 16 kHz, $min_seconds s to $max_seconds s (longer: centre crop) |
| inside the graph | Whisper log-mel (80 x 800, the utterance at the end of an 8 s window), \
$encoder_part |
| outputs | `logits` (scaled AM-softmax cosines), `embedding` ($embedding_dim-d), \
$vector_outputs |
| head | $head; trained on every utterance $copies |
| speaker normalisation | $speaker |
| OOD gate | $ood_method score of $gate_reads >= $ood_threshold: fitted on the \
training data and on unlabelled real speech of $fit_voices other voices, it accepts \
$ood_tpr of held-out utterances of EmoDB's validation speakers and of $calibrate_voices \
further real voices (wideband, through a telephone line and with the runtime segmenter's \
margins); and $voicing |
| cost | $cost_cpu ms of CPU per 3 s utterance on one thread ($cost_wall ms of wall \
time, which other load on the machine lengthens); `bin/bench` compares the tiers |

## Against the fast model

$comparison

## Speaker-independent results: EmoDB, leave one speaker out

The fast model's protocol (`streamser evaluate --cv loso`, `--head` rows): every speaker
is tested once by a head trained without them, one more speaker held out for the epoch and
the gate. `telephone` is the same test audio through an 8 kHz G.711 mu-law line. Rows:
`accurate` ships; `accurate-no-msac` lacks attribute control, `accurate-no-speaker-norm`
speaker normalisation; `accurate-second-layer` reads the encoder's second layer instead of
its first, `accurate-pooled` the vector Smart Turn's own classifier reads.

**4 classes**, EmoDB only:

$cv4

**4 classes**, SynthEmo added to every fold's training set (as the shipped head trains):

$cv4x

**7 classes**:

$cv7

The gate per fold (Mahalanobis score of the embedding, threshold at 95 % TPR on the
validation speaker), 4 classes:

$selective

$readings## Cross-domain

| trained on | tested on | UA wideband | UA telephone |
| --- | --- | --- | --- |
$cross_domain

## Real speech and the OOD sets

Real, mostly neutral speech (IVR prompts, cut by the runtime's segmenter, each speaker one
stream) and acted game lines:

$real_speech

Voices the gate never saw (held out from fitting it and from setting its threshold:
$held_out) are the test of the gate on real speech: it accepts $held_game of their
game lines and $held_ivr of their IVR prompts.

FPR at 95 % TPR per score (lower is better), the positives being the shipped run's real
validation speakers; `voiced` is the share of a set that passes the voicing test, the
last column the share the shipped gate accepts (both tests)
(`accurate-ood.json`):

$ood_table

## Intended use and limits

- Four classes; other emotions are out of distribution by design, but the gate does not
  see them as such (the unseen-emotions row above): it guards against what is not speech,
  not against what the head was not taught.
- Acted speech: actors exaggerate; spontaneous call-center speech is subtler.
- The gate guards against what is not speech (the non-speech row above) and accepts real
  speech of voices and languages unlike the corpora ($game_lines of all game lines). It
  does not make labels right on such voices: on the calm IVR prompts it says neutral or
  uncertain for $ivr_neutral of the utterances and calls the rest happy, angry or sad (a
  professional prompt voice's bright delivery reads as emotion to a head taught by
  actors). `--ood-tpr` or `--ood-method` trade guesses for abstentions.
- Languages: German (real) and English (synthetic) taught the head; the encoder heard
  23 languages.
- It costs several times the fast model per utterance (`bin/bench --frontier`) and
  hears at most 8 s of an utterance (the encoder's window; longer ones keep their centre).

## Licences and attributions

- The encoder: $attribution Its licence texts ship beside the model
  (`LICENSE-smart-turn`, `LICENSE-whisper`).
- EmoDB: CC0 1.0 as republished by audEERING; SynthEmo: made by `streamser synth`.

## Reproduce

`bin/make-accurate-model --emodb DIR` regenerates this card, the model and every number
above; cached encoder vectors and finished folds are reused. The cross-validation's
folds took $cv_minutes min of run time, the last regeneration $minutes min. One row of
the cross-validation alone:

```sh
streamser evaluate --cv loso emodb=DIR --classes 4 --reference none \\
    --head training/encoder/variants/accurate.toml
```
""")


def render(summary: dict, model_path: Path) -> str:
    import onnxruntime

    from streamser.metadata import METADATA_KEY
    from streamser.model import FEATURES_OUTPUT_NAME, GATE_FEATURES_OUTPUT_NAME

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(model_path), options, ["CPUExecutionProvider"])
    metadata = ModelMetadata.from_json(session.get_modelmeta().custom_metadata_map[METADATA_KEY])
    head = metadata.training["head"]
    gate_outputs = metadata.frontend.get("gate_outputs", [])
    speaker = metadata.speaker_normalisation
    widths = {output.name: output.shape[-1] for output in session.get_outputs()}
    vectors = [n for n in (FEATURES_OUTPUT_NAME, GATE_FEATURES_OUTPUT_NAME) if n in widths]
    return CARD.substitute(
        name=metadata.name,
        file=model_path.name,
        size_mb=f"{model_path.stat().st_size / 1e6:.1f}",
        sha256=summary["sha256"][:16],
        labels=", ".join(metadata.labels),
        min_seconds=f"{metadata.min_seconds:.1f}",
        max_seconds=f"{metadata.max_seconds:.0f}",
        embedding_dim=metadata.embedding_dim,
        encoder_part=encoder_description(head["outputs"], gate_outputs),
        vector_outputs=", ".join(f"`{name}` ({widths[name]} values)" for name in vectors),
        gate_reads="`gate_features`" if gate_outputs else "the encoder features",
        head=_head_description(head, metadata.training),
        speaker=f"on: features standardised per stream, prior worth "
        f"{speaker.prior_utterances:g} utterances"
        if speaker
        else "off",
        ood_method=metadata.ood.method,
        ood_threshold=f"{metadata.ood.threshold:.3f}",
        ood_tpr=f"{metadata.ood.tpr:.0%}",
        voicing=VOICING,
        cost_cpu=summary["cost"]["cpu_ms_p50"],
        cost_wall=summary["cost"]["wall_ms_p50"],
        comparison=comparison(summary["headline"], summary["fast_reference"], summary["ships"]),
        cv4=markdown_table(summary["crossval"]["4-class"]),
        cv4x=markdown_table(summary["crossval"]["4-class-with-synthemo"]),
        cv7=markdown_table(summary["crossval"]["7-class"]),
        selective=selective_table(summary["crossval"]["4-class"]),
        readings=readings_section(summary["crossval"]["4-class"]),
        cross_domain=cross_domain_rows(summary["cross_domain"]),
        real_speech=real_speech_table(summary["real_speech"]),
        ood_table=summary["ood_table"],
        attribution=ATTRIBUTION,
        minutes=f"{summary['minutes']:.0f}",
        cv_minutes=f"{sum(r['train_minutes'] for r in summary['crossval'].values()):.0f}",
        game_lines=f"{summary['real_speech']['game_lines']['accepted']:.0%}",
        copies=_copies(head),
        ivr_neutral=_share_range(
            r["neutral_or_uncertain"] for r in summary["real_speech"]["ivr_prompts"].values()
        ),
        **_gate_voices(summary),
    )


def _copies(head: dict) -> str:
    copies = ["wideband"] + ["through a telephone line"] * bool(head.get("telephone"))
    if head.get("margins"):
        copies.append("with 0.3 s of background noise before and after (the segmenter's margins)")
    return _joined(copies)


def encoder_description(outputs: list[str], gate_outputs: list[str] = ()) -> str:
    """What the graph keeps of the encoder (the layers up to the deepest one read) and
    what the head reads of it (and the gate, when it reads other layers), in the card's
    words.

    Raises:
        ValueError: `outputs` is empty or a name is not a tensor `training.encoder.graph`
            knows.
    """
    from training.encoder.graph import FRAMES, LAYER_OUTPUTS, POOLED

    every = [*outputs, *gate_outputs]
    unknown = [name for name in every if name not in (*LAYER_OUTPUTS, FRAMES, POOLED)]
    if unknown or not outputs:
        raise ValueError(
            f"encoder outputs {every}: expected names from LAYER_OUTPUTS, FRAMES, POOLED"
        )
    layers = sorted(LAYER_OUTPUTS.index(name) for name in every if name in LAYER_OUTPUTS)
    depth = len(LAYER_OUTPUTS) if {FRAMES, POOLED} & set(every) else layers[-1] + 1
    if depth == len(LAYER_OUTPUTS):
        kept = "the whole encoder (int8)"
    elif depth == 1:
        kept = "the encoder's first layer (int8)"
    else:
        kept = f"the encoder's first {_COUNTS[depth - 1]} layers (int8)"
    text = f"{kept}, {_what_is_read(outputs)}"
    if gate_outputs:
        text += f"; for the gate, {_what_is_read(gate_outputs)}"
    return text


def _what_is_read(outputs: list[str]) -> str:
    from training.encoder.graph import FRAMES, LAYER_OUTPUTS, POOLED

    layers = sorted(LAYER_OUTPUTS.index(name) for name in outputs if name in LAYER_OUTPUTS)
    summarised = []
    if layers:
        whose = "layer's output" if len(layers) == 1 else "layers' outputs"
        summarised.append(f"{_joined([_ORDINALS[i] for i in layers])} {whose}")
    if FRAMES in outputs:
        summarised.append("final layer norm's output")
    read = []
    if summarised:
        read.append(
            f"mean and standard deviation of the {_joined(summarised)} over the speech frames"
        )
    if POOLED in outputs:
        read.append("its attention-pooled vector")
    return _joined(read)


def _joined(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


_ORDINALS = ("first", "second", "third", "fourth")
_COUNTS = ("one", "two", "three", "four")


def _head_description(head: dict, training: dict) -> str:
    """The head row of the card's table: its shape, and the ensemble's epochs."""
    epochs = training["best_epochs"]
    count = len(epochs)
    which = "epoch" if count == 1 else "epochs"
    ensemble = "" if count == 1 else f"{count} heads from consecutive seeds, logits averaged; "
    return (
        f"{ensemble}{head['hidden']} hidden units each, am-softmax (s {head['am_scale']:g}, m "
        f"{head['am_margin']:g}), attribute control: {', '.join(training['msac'])}; "
        f"{which} {', '.join(str(e) for e in epochs)} of {head['epochs']}"
    )


def _share_range(shares) -> str:
    shares = sorted(shares)
    return f"{shares[0]:.0%}" if shares[0] == shares[-1] else f"{shares[0]:.0%} to {shares[-1]:.0%}"


def _gate_voices(summary: dict) -> dict[str, str]:
    """The real voices' parts in the gate (`training.real_speech.gate_roles`) and what it
    accepts of the held-out ones."""
    roles = summary["gate_roles"]
    held = sorted(speaker for speaker, role in roles.items() if role == "held out")
    real = summary["real_speech"]
    packs = real["game_lines"]["speakers"]
    game = [packs[s] for s in held if s in packs]
    prompts = [real["ivr_prompts"][s] for s in held if s in real["ivr_prompts"]]

    def accepted(results: list[dict], share) -> str:
        total = sum(r["utterances"] for r in results)
        return f"{sum(share(r) * r['utterances'] for r in results) / max(total, 1):.0%}"

    return {
        "fit_voices": str(sum(role == "fit" for role in roles.values())),
        "calibrate_voices": str(sum(role == "calibrate" for role in roles.values())),
        "held_out": ", ".join(s.split(":")[-1] for s in held),
        "held_game": accepted(game, lambda r: r["accepted"]),
        "held_ivr": accepted(prompts, lambda r: 1.0 - r["shares"].get("uncertain", 0.0)),
    }


def comparison(ours: dict, fast: dict | None, ships: bool) -> str:
    if fast is None:
        return "No fast model's evaluation was found to compare with."
    rows = [
        "| UA, 4 classes | accurate | fast | difference |",
        "| --- | --- | --- | --- |",
    ]
    names = {
        "loso_wideband": "EmoDB LOSO, wideband",
        "loso_telephone": "EmoDB LOSO, telephone",
        "loso_7_class": "EmoDB LOSO, 7 classes",
        "synthetic_wideband": "SynthEmo only -> EmoDB, wideband",
        "synthetic_telephone": "SynthEmo only -> EmoDB, telephone",
    }
    for key, name in names.items():
        if ours.get(key) is None or fast.get(key) is None:
            continue
        rows.append(
            f"| {name} | {ours[key]:.3f} | {fast[key]:.3f} | "
            f"{100 * (ours[key] - fast[key]):+.1f} points |"
        )
    decision = (
        "It ships as `accurate` (`streamser listen --model accurate`)."
        if ships
        else "It does **not** ship: its EmoDB UA is not 3 points above the fast model's."
    )
    return "\n".join(rows) + "\n\n" + decision
