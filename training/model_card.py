"""The bundled model's card, written from the numbers the regeneration measured."""

from __future__ import annotations

from pathlib import Path
from string import Template

import onnxruntime

from streamser.metadata import METADATA_KEY, ModelMetadata

CARD = Template("""\
# Model card: $name

**Trained on synthetic speech only.** This model learned emotion from SynthEmo: speech that
text-to-speech engines rendered with rule-based emotional prosody. It shows the whole pipeline
working; it is not a model of human emotional expression and will often be wrong on real
voices. Train on a real corpus for real use (see below).

| | |
| --- | --- |
| file | `$file` ($size_mb MB), sha256 `$sha256` |
| labels | $labels |
| input | mono float32 waveform, 16 kHz, $min_seconds s to $max_seconds s (longer: centre crop) |
| outputs | `logits` (scaled AM-softmax cosines), `embedding` ($embedding_dim-d, L2-normalised) |
| network | MSAC-SERNet, $loss, attribute control: $msac |
| OOD gate | $ood_method score >= $ood_threshold (accepts $ood_tpr of held-out ID utterances) |

## Data and protocol

- Corpora: $corpora ($per_class files per emotion and engine,
  clean, 16 kHz); each voice of espeak-ng, flite and festival is a speaker.
- Split: $split.
- Speaker-disjoint: no voice is in two parts. A quarter of the sentences is held out of
  training and validation; the test set holds only those sentences, spoken by held-out voices.
- Selection: each run keeps its epoch with the best validation UA. The shipped model is the
  $shipped_variant run with seed $shipped_seed, fixed before any result was seen (the seed
  also draws the speaker split, so validation scores of different seeds do not compare).

## Results on the test set (held-out voices and sentences)

WA $test_wa, UA $test_ua on $test_n utterances, measured on the exported ONNX file.

| class | recall | utterances |
| --- | --- | --- |
$recall_rows

The confusion matrix (rows true, columns predicted) is `default-evaluation.png`; the numbers
are in `default-evaluation.json`.

## Ablation (same data, protocol and seeds)

| variant | test UA per seed | UA mean ± std | WA mean |
| --- | --- | --- | --- |
$ablation_rows

"cross-entropy" is the same cosine classifier without margin (AM-softmax with m = 0), so the
rows differ only in the margin and in attribute control. Each seed draws its own speaker split
and initialisation, so the spread across seeds is mostly which voices land in the test set;
with about $test_n test utterances per run, one utterance moves UA by about $one_utterance
points. Differences between rows smaller than that spread are noise.

## Out-of-distribution detection

The gate withholds a label (`uncertain`) when the $ood_method score falls below the
threshold that accepts $ood_tpr of held-out in-distribution utterances (the validation
split). How well each score tells the test split (the positives) from each OOD set, as
FPR at 95 % TPR: the share of the set accepted at the threshold that keeps 95 % of the
positives (lower is better). The last column is the share the shipped gate accepts at
its calibrated threshold.

$ood_table

Semantic sets hold things the labels do not apply to, and the gate should reject them.
Covariate sets hold the known emotions under a shift (an engine the model never heard,
German and Spanish, a telephone channel), where rejection trades coverage for safety.
The sets and all metrics (AUROC, AUPR) are described in `docs/OOD.md`; the numbers are in
`default-ood.json`.

## Intended use and limits

- Demonstrations, tests and a template: it makes `streamser listen` work out of the box.
  Its labels on human speech are not to be trusted.
- The OOD gate marks utterances unlike the training data `uncertain`; human speech is far
  from synthetic speech, so expect many `uncertain` events from a microphone.
- Four classes only; other emotions are out of distribution by design.

## Train on a real corpus

```sh
bin/setup train
.venv/bin/streamser train --data emodb=/data/emodb -o runs/emodb --epochs 40
.venv/bin/streamser evaluate runs/emodb/best.pt        # its held-out speakers
.venv/bin/streamser export runs/emodb/best.pt -o emodb.onnx
.venv/bin/streamser listen --model emodb.onnx
```

## Reproduce

`bin/make-default-model` regenerates this card, the model and the ablation. On a 2-core CPU
the $runs training runs took $run_minutes min of run time, $parallel at a time; exporting,
calibrating and writing this card took $minutes min. The test numbers above come back from:

```sh
.venv/bin/streamser evaluate runs/default-model/runs/$run_dir/best.pt
```
""")


def write_model_card(summary: dict, model_path: Path, card_path: Path) -> Path:
    from training.default_model import run_name

    session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    metadata = ModelMetadata.from_json(session.get_modelmeta().custom_metadata_map[METADATA_KEY])
    test = summary["test"]
    shipped = summary["shipped_run"]
    recall_rows = [
        f"| {label} | {test['recall'][label]:.3f} | {sum(row)} |"
        for label, row in zip(test["labels"], test["confusion"], strict=True)
    ]
    ablation_rows = [
        f"| {row['variant']} | {', '.join(f'{ua:.3f}' for ua in row['test_ua'])} "
        f"| {row['ua_mean']:.3f} ± {row['ua_std']:.3f} | {row['wa_mean']:.3f} |"
        for row in summary["ablation"]
    ]
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
        ood_method=metadata.ood.method,
        ood_threshold=f"{metadata.ood.threshold:.3f}",
        ood_tpr=f"{metadata.ood.tpr:.0%}",
        ood_table=summary["ood_table"],
        corpora=", ".join(metadata.training.get("corpora", [])),
        per_class=summary["recipe"]["per_class"],
        split=summary["split"],
        shipped_variant=shipped["variant"],
        shipped_seed=shipped["seed"],
        test_wa=f"{test['weighted_accuracy']:.3f}",
        test_ua=f"{test['unweighted_accuracy']:.3f}",
        test_n=test["utterances"],
        recall_rows="\n".join(recall_rows),
        ablation_rows="\n".join(ablation_rows),
        # One utterance moves its class's recall by classes/n, so UA by 1/n.
        one_utterance=f"{100 / max(test['utterances'], 1):.1f}",
        minutes=f"{summary['minutes']:.0f}",
        runs=sum(len(row["test_ua"]) for row in summary["ablation"]),
        run_minutes=f"{summary['run_minutes']:.0f}",
        parallel=summary["parallel_runs"],
        run_dir=run_name(shipped["variant"], shipped["seed"]),
    )
    card_path.write_text(card)
    return card_path
