"""Training configuration: one frozen dataclass, loadable from TOML, echoed into checkpoints."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, get_origin, get_type_hints

import tomllib

from streamser.constants import SAMPLE_RATE_HZ
from streamser.errors import StreamserError
from streamser.labels import FOUR_CLASS
from training.augment import AugmentConfig

_AUGMENT_TUPLE_FIELDS = {
    name for name, hint in get_type_hints(AugmentConfig).items() if get_origin(hint) is tuple
}


@dataclass(frozen=True)
class AttributeControl:
    """Multiple Speech Attribute Control (MSAC) switches and weights.

    Attributes:
        gender_weight: Joint gender head (emotion-correlated); 0 turns it off.
        speaker_weight: Adversarial speaker head behind gradient reversal; 0 turns it off.
        corpus_weight: Adversarial corpus head (only when several corpora are mixed).
        reversal_max: Final gradient-reversal coefficient.
        reversal_ramp: Ramp the coefficient 0 -> max with 2/(1+exp(-10p)) - 1 over
            training progress p (Ganin et al. 2016), so early features form first.
    """

    gender_weight: float = 0.1
    speaker_weight: float = 0.05
    corpus_weight: float = 0.05
    reversal_max: float = 1.0
    reversal_ramp: bool = True

    @classmethod
    def off(cls) -> AttributeControl:
        return cls(gender_weight=0.0, speaker_weight=0.0, corpus_weight=0.0)


@dataclass(frozen=True)
class FrontendConfig:
    """Attributes:
    sample_rate_hz: Rate of the input waveform.
    n_fft: FFT size in samples (25 ms at 16 kHz).
    hop_samples: Hop between frames (10 ms).
    n_mels: Mel bands.
    f_min_hz, f_max_hz: Band edges of the filterbank.
    log_floor: Added before the log so silence stays finite.
    normalise: Per-utterance mean/variance normalisation: "global" (all bands
        together, keeps spectral shape), "band" (each band, also removes the
        channel's spectral colouring) or "none".
    """

    sample_rate_hz: int = SAMPLE_RATE_HZ
    n_fft: int = 400
    hop_samples: int = 160
    n_mels: int = 64
    f_min_hz: float = 20.0
    f_max_hz: float = 8000.0
    log_floor: float = 1e-6
    normalise: str = "global"

    def __post_init__(self) -> None:
        if self.normalise not in ("global", "band", "none"):
            raise ValueError(f"normalise={self.normalise!r}: expected global, band or none")
        if not 0 <= self.f_min_hz < self.f_max_hz <= self.sample_rate_hz / 2:
            raise ValueError("need 0 <= f_min_hz < f_max_hz <= sample_rate_hz / 2")

    @property
    def min_samples(self) -> int:
        """Reflect padding needs more than n_fft/2 samples."""
        return self.n_fft // 2 + 1

    def to_metadata(self) -> dict:
        return {"type": "log-mel", **asdict(self)}


@dataclass(frozen=True)
class DistillConfig:
    """Knowledge distillation from the accurate tier (`training.encoder.distill`).

    A teacher head is trained on the frozen encoder's vectors of the run's own
    training and validation data; the network then learns from its soft labels as
    well as from the labels, on the labelled utterances and on unlabelled ones.

    Attributes:
        weight: Weight of the distillation loss beside the label loss.
        temperature: Softens both distributions (the loss is scaled by its square).
        unlabelled: Corpora heard without their labels: "debian" (the real speech of
            `training.real_speech`) or NAME=DIR / a manifest CSV.
        per_speaker: At most this many unlabelled utterances per speaker (seeded).
        ratio: At most this many unlabelled utterances per labelled one.
        teacher: HeadOptions fields of the teacher (default: the shipped head's).
        embeddings: Where the encoder's vectors are cached (shared between runs).
    """

    weight: float = 1.0
    temperature: float = 2.0
    unlabelled: tuple[str, ...] = ("debian",)
    per_speaker: int = 100
    ratio: float = 1.0
    teacher: dict = field(default_factory=dict)
    embeddings: str = "runs/encoder-vectors"


@dataclass(frozen=True)
class TrainConfig:
    """Attributes:
    data: Corpora as "NAME=PATH" (a loader name from training.corpora) or a manifest CSV path.
    classes: Emotion classes to train; utterances of other classes are left out.
    languages: Keep only these languages (ISO 639-1); empty keeps all.
    output_dir: Checkpoints, logs, plots.
    seed: Seeds splits, initialisation, batches and augmentation.
    epochs: Upper bound; early stopping usually ends sooner.
    patience_epochs: Stop after this many epochs without a better validation UA.
    batch_size: Utterances per step (per process when distributed).
    crop_seconds: Longest training crop.
    learning_rate, weight_decay: AdamW settings (one-cycle schedule).
    loss: "am-softmax" or "cross-entropy" (a cosine classifier without margin).
    am_scale, am_margin: AM-softmax s and m.
    warmup_epochs: Epochs of plain cross-entropy before the margin is applied.
    msac: Attribute control; AttributeControl.off() disables it.
    augment: Waveform augmentation; None disables it (SpecAugment stays on).
    split_fractions: Speaker-disjoint train/validation/test shares.
    hold_out_texts: Share of sentence ids kept out of training and validation, so the
        test set has unseen speakers and unseen sentences (corpora with text ids).
    threads: torch intra-op threads; 0 leaves torch's default.
    speaker_normalise: Standardise the network's pooled features with each speaker's
        own statistics (see training.model.layers.SpeakerNormalisation).
    speaker_prior_utterances: Weight of the population prior in those statistics.
    speaker_group_size: With speaker normalisation, batches are made of groups of
        this many utterances of one speaker; each utterance is normalised with a
        random subset of its group, so the network learns from 0 to size - 1 known
        utterances, as a live stream warms up.
    distill: Learn from the accurate tier as a teacher too (None: labels only).
    frontend: The network's log-mel settings; `[frontend]` in TOML.
    """

    data: tuple[str, ...] = ()
    classes: tuple[str, ...] = FOUR_CLASS
    languages: tuple[str, ...] = ()
    output_dir: str = "runs/msac"
    seed: int = 0
    epochs: int = 30
    patience_epochs: int = 6
    batch_size: int = 32
    crop_seconds: float = 2.0
    learning_rate: float = 3e-3
    weight_decay: float = 1e-3
    loss: str = "am-softmax"
    am_scale: float = 30.0
    am_margin: float = 0.2
    warmup_epochs: int = 2
    msac: AttributeControl = field(default_factory=AttributeControl)
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    hold_out_texts: float = 0.2
    threads: int = 0
    speaker_normalise: bool = False
    speaker_prior_utterances: float = 4.0
    speaker_group_size: int = 8
    distill: DistillConfig | None = None
    frontend: FrontendConfig = field(default_factory=FrontendConfig)

    def __post_init__(self) -> None:
        if not self.data:
            raise StreamserError("training needs at least one corpus (--data NAME=PATH)")
        if self.loss not in ("am-softmax", "cross-entropy"):
            raise StreamserError(f"loss {self.loss!r}: expected am-softmax or cross-entropy")
        if len(self.classes) < 2:
            raise StreamserError("training needs at least two emotion classes")

    @property
    def margin(self) -> float:
        return self.am_margin if self.loss == "am-softmax" else 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        for key in ("data", "classes", "languages", "split_fractions"):
            if key in data:
                data[key] = tuple(data[key])
        if isinstance(data.get("msac"), dict):
            data["msac"] = AttributeControl(**data["msac"])
        if isinstance(data.get("augment"), dict):
            augment = dict(data["augment"])
            for key in _AUGMENT_TUPLE_FIELDS & set(augment):
                augment[key] = tuple(augment[key])  # TOML and JSON give lists
            data["augment"] = AugmentConfig(**augment)
        if isinstance(data.get("frontend"), dict):
            data["frontend"] = FrontendConfig(**data["frontend"])
        if isinstance(data.get("distill"), dict):
            distill = dict(data["distill"])
            if "unlabelled" in distill:
                distill["unlabelled"] = tuple(distill["unlabelled"])
            data["distill"] = DistillConfig(**distill)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise StreamserError(f"unknown training option(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_toml(cls, path: Path, **overrides: Any) -> TrainConfig:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise StreamserError(f"{path}: cannot read training config ({error})") from None
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(data)
