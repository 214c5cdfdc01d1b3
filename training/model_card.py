"""The bundled model's card, written from the numbers the regeneration measured."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from string import Template

import onnxruntime

from streamser.metadata import METADATA_KEY, ModelMetadata
from streamser.voicing import MIN_VOICED_SHARE
from training.channel import TELEPHONE_BAND_HZ
from training.config import FrontendConfig
from training.crossval_report import markdown_table, readings_section, selective_table
from training.quantise import MAX_UA_CHANGE
from training.real_speech import REAL_SPEECH_SOURCES

VOICING = (
    f"at least {MIN_VOICED_SHARE:.0%} of the utterance's loud frames voiced (the runtime's "
    "test that it is speech, `streamser.voicing`, the same for every model)"
)

CARD = Template("""\
# Model card: $name

**Trained on real and synthetic speech.** This model learned emotion from EmoDB (ten
German actors) and SynthEmo (text-to-speech with rule-based emotional prosody, English).
Ten real voices in one language are very little: expect it to be wrong on many real voices,
above all in other languages and on spontaneous (not acted) speech, and read the numbers
below as what it does on speakers it never heard from the same corpus.

| | |
| --- | --- |
| file | `$file` ($size_mb MB), sha256 `$sha256` |
| labels | $labels |
| input | mono float32 waveform, 16 kHz, $min_seconds s to $max_seconds s (longer: centre crop) |
| outputs | `logits` (scaled AM-softmax cosines), `embedding` ($embedding_dim-d, L2-normalised) |
| front end | $frontend |
| network | MSAC-SERNet, $loss, attribute control: $msac |
| weights | $weights |
| speaker normalisation | $speaker |
| OOD gate | $ood_method score of the $ood_vector >= $ood_threshold (accepts $ood_tpr \
of held-out real utterances, wideband and through a telephone line), and $voicing |

## Data

- **EmoDB** ($emodb_note), the four classes: $emodb_counts.
  Burkhardt, Paeschke, Rolfes, Sendlmeier, Weiss (2005), "A database of German emotional
  speech", Interspeech; CC0 1.0 as republished by audEERING. It is not in this repository
  or in the wheel: `bin/make-default-model --emodb DIR` takes any copy of it.
- **SynthEmo**: $per_class files per emotion and engine (espeak-ng, flite, festival),
  made by `streamser synth`; each voice is a speaker.
- **Augmentation** while training: speed, room reverberation, noise, an 8 kHz G.711
  telephone line (mu-law or A-law), gain; SpecAugment masks.
- **Shipped run**: $split. The validation speakers ($validation) are real EmoDB voices held
  out of training: the epoch and the gate's threshold are chosen on them.

## Speaker-independent results: EmoDB, leave one speaker out

Every speaker is tested once by a model trained without them (one more speaker held out
for validation); UA and WA are means ± standard deviations over the ten folds, per-class
recall comes from the confusion matrix pooled over folds. `telephone` is the same test
audio sent through an 8 kHz G.711 mu-law line. The `egemaps-*` rows are the classic
reference: the 88 eGeMAPS v02 functionals (afx-audio) with per-speaker z-normalisation and
an SVM or logistic regression, trained on the same folds. The reference rows learn from
wideband audio only, so their telephone rows show what the line does to a classic pipeline;
the network trains with a simulated telephone line among its augmentations.

**4 classes** (the ablation: `$shipped` is what ships; `msac` lacks speaker
normalisation, `speaker-norm` lacks attribute control, `$shipped-fullband` hears the full
band, $full_band, where the others hear the telephone band):

$cv4

**7 classes** (adds fear, disgust, boredom; the shipped variant trained on seven classes):

$cv7

$verdict

$readings## The gate on real speech

Per fold, a gate (the Mahalanobis score of the embedding, threshold at 95 % TPR on the
fold's validation speaker) is judged by its risk-coverage curve: AURC (lower is better)
and accuracy on the most confident 50 %, 80 % and 100 % of the test speaker's utterances;
the last column is the share the calibrated threshold accepts. Means over folds, 4 classes:

$selective

The shipped gate differs from the per-fold one: it scores the pooled features before
speaker normalisation. Normalising an utterance against its own statistics pulls it
towards the training data, so on the embedding a noise burst looks like speech; the
features keep it apart. Its reference set and its threshold hold every training and
validation utterance twice, wideband and through the telephone line, so that a call is
not out of distribution for being a call. The tables below measure the shipped gate.

Real, mostly neutral speech: the IVR prompts of the Asterisk project (one professional
speaker per language, recorded for telephone menus, cut by the runtime's segmenter, each
speaker one stream) and acted game lines (Hedgewars):

$real_speech

## Int8

$int8

## Cross-domain

| trained on | tested on | UA wideband | UA telephone |
| --- | --- | --- | --- |
$cross_domain

## Out-of-distribution sets

FPR at 95 % TPR per score (lower is better), the positives being the shipped run's real
validation speakers; `voiced` is the share of a set that passes the voicing test, the
last column the share the shipped gate accepts (both tests). Sets and
metrics: `docs/OOD.md`; numbers: `default-ood.json`.

$ood_table

## Intended use and limits

- Four classes; other emotions are out of distribution by design.
- Acted speech: actors exaggerate; spontaneous call-center speech is subtler.
- Languages: German (real) and English (synthetic) only were heard in training.
- Speaker normalisation needs a few utterances of a stream before it knows the voice;
  the first ones lean on a population prior (see `docs/SPEAKER_NORMALISATION.md`).

## Attributions

- EmoDB: CC0 1.0 (see above).
$attributions

## Reproduce

`bin/make-default-model --emodb DIR` regenerates this card, the model, the cross-validation
and every number above; finished runs and folds on disk are reused. The cross-validation's
folds took $cv_minutes min of run time (two at a time on a 2-core CPU); the last
regeneration of this card took $minutes min, reusing what was on disk. One row of the
cross-validation alone:

```sh
streamser evaluate --cv loso emodb=DIR --classes 4 \\
    --variant training/variants/msac-speaker-norm.toml
```
""")


def write_model_card(summary: dict, model_path: Path, card_path: Path) -> Path:
    session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    metadata = ModelMetadata.from_json(session.get_modelmeta().custom_metadata_map[METADATA_KEY])
    speaker = metadata.speaker_normalisation
    cv4, cv7 = summary["crossval"]["4-class"], summary["crossval"]["7-class"]
    card = CARD.substitute(
        name=metadata.name,
        file=model_path.name,
        size_mb=f"{model_path.stat().st_size / 1e6:.1f}",
        sha256=summary["sha256"][:16],
        labels=", ".join(metadata.labels),
        min_seconds=f"{metadata.min_seconds:.2f}",
        max_seconds=f"{metadata.max_seconds:.0f}",
        embedding_dim=metadata.embedding_dim,
        loss=metadata.training.get("loss"),
        msac=", ".join(metadata.training.get("msac", [])) or "off",
        frontend=frontend(metadata.frontend),
        full_band=_band(asdict(FrontendConfig())),
        speaker=(
            f"on: pooled features standardised per stream, prior worth "
            f"{speaker.prior_utterances:g} utterances"
            if speaker
            else "off"
        ),
        ood_method=metadata.ood.method,
        ood_vector="pooled features" if metadata.ood.vector == "features" else "embedding",
        ood_threshold=f"{metadata.ood.threshold:.3f}",
        ood_tpr=f"{metadata.ood.tpr:.0%}",
        voicing=VOICING,
        emodb_note=summary["emodb"]["note"],
        emodb_counts=summary["emodb"]["counts"],
        per_class=summary["recipe"]["per_class"],
        split=summary["shipped"]["split"],
        validation=", ".join(summary["shipped"]["validation_speakers"]),
        shipped=summary["shipped"]["variant"],
        cv4=markdown_table(cv4),
        cv7=markdown_table(cv7),
        verdict=verdict(cv4, cv7, summary["shipped"]["variant"]),
        selective=selective_table(cv4),
        readings=readings_section(cv4),
        real_speech=real_speech_table(summary["real_speech"]),
        cross_domain=cross_domain_rows(summary["cross_domain"]),
        weights=weights(summary.get("int8")),
        int8=int8_section(summary.get("int8")),
        ood_table=summary["ood_table"],
        attributions="\n".join(
            f"- {s.name} (`{s.package}`, used to check the model, not to train it): "
            f"{s.licence}; {s.attribution}."
            for s in REAL_SPEECH_SOURCES.values()
        ),
        minutes=f"{summary['minutes']:.0f}",
        cv_minutes=f"{cv4['train_minutes'] + cv7['train_minutes']:.0f}",
    )
    card_path.write_text(card)
    return card_path


def _ua(report: dict, row: str, channel: str = "wideband") -> float:
    return next(
        s["ua_mean"] for s in report["summaries"] if s["row"] == row and s["channel"] == channel
    )


def frontend(settings: dict) -> str:
    """The log-mel settings in words; the band is what decides how a call sounds to it."""
    band = _band(settings)
    if (settings["f_min_hz"], settings["f_max_hz"]) == TELEPHONE_BAND_HZ:
        band += ", the telephone band: a call and a wideband recording sound alike to it"
    return f"log-mel, {settings['n_mels']} bands over {band}"


def _band(settings: dict) -> str:
    return f"{settings['f_min_hz']:g}-{settings['f_max_hz']:g} Hz"


def verdict(cv4: dict, cv7: dict, shipped: str) -> str:
    """Where the shipped variant stands against the classic reference, in words."""
    lines = []
    for name, report in (("4 classes", cv4), ("7 classes", cv7)):
        ours, reference = _ua(report, shipped), _ua(report, "egemaps-svm")
        telephone = _ua(report, shipped, "telephone")
        lines.append(
            f"- {name}: UA {ours:.3f} against {reference:.3f} for eGeMAPS + SVM "
            f"({'above' if ours > reference else 'below'} the reference); through the "
            f"telephone line {telephone:.3f} ({100 * (telephone - ours):+.1f} points)."
        )
    return "\n".join(lines)


def real_speech_table(real: dict) -> str:
    """Per IVR speaker and for the game lines; `not voiced` is the share the voicing test
    alone turns away (whatever the model's score)."""
    lines = [
        "| speaker | utterances | neutral or uncertain | not voiced | labels |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for speaker, result in real["ivr_prompts"].items():
        shares = ", ".join(f"{k} {v:.0%}" for k, v in result["shares"].items())
        lines.append(
            f"| {speaker} | {result['utterances']} | {result['neutral_or_uncertain']:.0%} "
            f"| {result['not_voiced']:.0%} | {shares} |"
        )
    game = real["game_lines"]
    lines.append(
        f"| hedgewars (acted) | {game['utterances']} | - | {game['not_voiced']:.0%} "
        f"| accepted {game['accepted']:.0%} |"
    )
    return "\n".join(lines)


def cross_domain_rows(cross_domain: dict) -> str:
    return "\n".join(
        f"| {name.split(' -> ')[0]} | {name.split(' -> ')[1]} "
        f"| {result['wideband']['unweighted_accuracy']:.3f} "
        f"| {result['telephone']['unweighted_accuracy']:.3f} |"
        for name, result in cross_domain.items()
    )


def weights(int8: dict | None) -> str:
    if int8 and int8["ships"]:
        bits = 7 if int8["reduce_range"] else 8
        return (
            f"int8 in the residual blocks (static QDQ, {bits}-bit weights per channel, "
            "activations calibrated on training audio); front end and head float32"
        )
    return "float32"


def int8_section(int8: dict | None) -> str:
    """The quantisation rule's evidence: float against int8 on every corpus and channel."""
    if not int8:
        return "Not measured: this card's run made no int8 copy."
    lines = [
        f"The recipe quantises the float model (`training.quantise`) and ships the int8 copy "
        f"only if unweighted accuracy moves by at most {100 * MAX_UA_CHANGE:g} point"
        f" on EmoDB leave-one-speaker-out (each fold's model quantised on its own training "
        f"audio) and on SynthEmo (the corpus the model trained on). The int8 copy's gate is "
        f"fitted on its own features. Verdict: **{'ships' if int8['ships'] else 'does not ship'}**"
        f"{'' if int8['ships'] else ' (the file above is the float model)'}.",
        "",
        "| | float UA | int8 UA | change |",
        "| --- | ---: | ---: | ---: |",
    ]
    for corpus, name in (("emodb_loso", "EmoDB LOSO"), ("synthemo", "SynthEmo")):
        for channel in ("wideband", "telephone"):
            part = int8[corpus][channel]
            lines.append(
                f"| {name}, {channel} | {part['float_ua']:.4f} | {part['int8_ua']:.4f} "
                f"| {100 * part['change']:+.2f} points |"
            )
    timing = int8["inference_ms_3s_p50"]
    lines += [
        "",
        f"One inference of 3 s of speech, one thread, median of the two models interleaved in "
        f"the recipe's run: {timing['float']:.2f} ms float, {timing['int8']:.2f} ms int8 "
        f"(`bin/bench` measures the shipped file on its own).",
    ]
    return "\n".join(lines)
