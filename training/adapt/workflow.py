"""`streamser adapt` end to end: labelled source corpora and an unlabelled target in,
an adaptation checkpoint out.

Apart from the command's argument parsing so that tests run it on tiny data, and so
that the rule is visible in one place: the class set comes from the sources, and the
target is read by `training.adapt.targets`, which never reads a label. The adapted
model's OOD threshold is later calibrated on every target utterance (`checkpoint`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

from streamser.errors import StreamserError
from training.adapt.checkpoint import (
    AdaptCheckpoint,
    load_adapt_checkpoint,
    save_adapt_checkpoint,
)
from training.adapt.data import CorpusSpec, MapBank, clip_maps, extract_maps, shared_emotions
from training.adapt.diagnostics import agreement, label_free_summary
from training.adapt.features import (
    DEFAULT_EMBEDDINGS,
    clip_keys,
    encoder_input,
    encoder_vectors,
)
from training.adapt.network import DidanConfig, DidanNet
from training.adapt.targets import TargetSpec, load_target
from training.adapt.trainer import AdaptConfig, accuracy, adapt, score
from training.corpora import Utterance
from training.data import AudioCache

log = logging.getLogger(__name__)


def source_classes(
    emotions_per_source: Sequence[Sequence[str]], requested: Sequence[str] | None = None
) -> tuple[str, ...]:
    """The emotions every source corpus has (or `requested`, a subset of them)."""
    shared = shared_emotions(*emotions_per_source)
    classes = tuple(requested) if requested else shared
    if len(classes) < 2 or not set(classes) <= set(shared):
        raise StreamserError(
            f"the source corpora share the emotions {', '.join(shared) or 'none'}; "
            f"adaptation needs at least two of them (got {', '.join(classes) or 'none'})"
        )
    return classes


def load_sources(specs: Sequence[CorpusSpec]) -> list[list[Utterance]]:
    return [spec.load() for spec in specs]


def fingerprint(files: Sequence[Path]) -> str:
    """Which recordings, in which order: two checkpoints with the same fingerprint scored
    the same target utterances, so their outputs can be compared one by one."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{Path(path).resolve()}\0{Path(path).stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def run_adaptation(
    sources: Sequence[CorpusSpec],
    target: TargetSpec,
    config: AdaptConfig,
    output: Path,
    classes: Sequence[str] | None = None,
    embeddings: Path = DEFAULT_EMBEDDINGS,
) -> AdaptCheckpoint:
    """Adapts, writes `output`, returns the checkpoint. With `config.features ==
    "encoder"` the network reads frozen encoder vectors, cached under `embeddings`."""
    corpora = load_sources(sources)
    classes = source_classes([[u.emotion for u in us] for us in corpora], classes)
    extractor = DidanNet(DidanConfig(classes=classes))
    kept = [u for us in corpora for u in us if u.emotion in classes]
    files = target.files()
    audio = load_target(files)
    if config.features == "encoder":
        source_inputs = encoder_vectors(
            [str(u.path) for u in kept],
            lambda idx: AudioCache([kept[i] for i in idx]).audio,
            embeddings,
        )
        target_inputs = encoder_vectors(
            clip_keys(audio.files, audio.origins, audio.whole),
            lambda idx: [audio.clips[i] for i in idx],
            embeddings,
        )
    else:
        source_inputs = extract_maps(kept, extractor.maps, extractor.min_samples)
        target_inputs = clip_maps(audio.clips, extractor.maps, extractor.min_samples)
    source_bank = MapBank.labelled(source_inputs, [u.emotion for u in kept], classes)
    target_bank = MapBank.unlabelled(target_inputs)
    log.info(
        "source %d utterances (%s), target %d utterances from %d files",
        len(source_bank),
        ", ".join(classes),
        len(target_bank),
        len(audio.files),
    )
    result = adapt(config, classes, source_bank, target_bank)
    target_logits, target_embeddings = score(result.model, target_bank)
    source_logits, _ = score(result.model, source_bank)
    checkpoint = AdaptCheckpoint(
        adapt_config=config.to_dict(),
        model_config=result.model.config.to_dict(),
        model_state=result.model.state_dict(),
        source={
            "name": "+".join(spec.name for spec in sources),
            "utterances": len(source_bank),
        },
        target={
            "name": target.name,
            "utterances": len(target_bank),
            "files": len(audio.files),
            "skipped_files": len(audio.skipped),
            "fingerprint": fingerprint(audio.files),
        },
        history=result.history,
        target_logits=target_logits,
        target_embeddings=target_embeddings,
        metrics={
            "source_train_ua": accuracy(source_logits, source_bank.labels)["ua"],
            **label_free_summary(source_logits, target_logits, classes),
        },
        inputs=encoder_input() if config.features == "encoder" else {},
    )
    save_adapt_checkpoint(checkpoint, output)
    return checkpoint


def describe(checkpoint: AdaptCheckpoint, classes: Sequence[str]) -> str:
    """Lines for the terminal: what was adapted, and the label-free checks."""
    m = checkpoint.metrics
    shares = ", ".join(f"{c} {100 * m['target_label_shares'][c]:.0f}%" for c in classes)
    return "\n".join(
        [
            f"{checkpoint.adapt_config['method']}: {checkpoint.source['name']} -> "
            f"{checkpoint.target['name']} ({checkpoint.target['utterances']} utterances from "
            f"{checkpoint.target['files']} files) on {', '.join(classes)}",
            f"source (train) UA {m['source_train_ua']:.3f}",
            f"target labels: {shares}",
            f"target accepted by a gate calibrated on the source: "
            f"{100 * m['source_gate_coverage']:.0f}%; neutral or uncertain: "
            f"{100 * m['neutral_or_uncertain']:.0f}%",
        ]
    )


def compare(checkpoint: AdaptCheckpoint, other: Path) -> str:
    """Agreement with another adaptation of the same target (another seed, another method):
    the share of target utterances both give the same label. Seeds that disagree on most
    of them have not learned a stable rule for this target."""
    theirs = load_adapt_checkpoint(other)
    if theirs.target.get("fingerprint") != checkpoint.target["fingerprint"]:
        raise StreamserError(f"{other}: adapted to other target recordings; cannot compare")
    if list(theirs.model_config["classes"]) != list(checkpoint.model_config["classes"]):
        raise StreamserError(f"{other}: other classes; cannot compare")
    share = agreement(checkpoint.target_logits, theirs.target_logits)
    return (
        f"agreement with {other} ({theirs.adapt_config['method']}, seed "
        f"{theirs.adapt_config['seed']}): {100 * share:.0f}% of target utterances"
    )
