"""The one wrapper around an ONNX Runtime session for an emotion model.

One `EmotionModel` per model file per process, shared by every stream and worker:
concurrent `run()` on one session is thread-safe. Everything about the session
is explicit here: providers, threads, memory arena, log level, and the checks a
model file must pass before anything streams into it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamser.batching import Batcher
from streamser.constants import SAMPLE_RATE_HZ
from streamser.errors import ModelError
from streamser.metadata import METADATA_KEY, ModelMetadata
from streamser.speaker import SpeakerStatistics

log = logging.getLogger(__name__)

INPUT_NAME = "waveform"
OUTPUT_NAMES = ("logits", "embedding")
SPEAKER_INPUT_NAMES = ("speaker_sum", "speaker_sum_squares", "speaker_count")
FEATURES_OUTPUT_NAME = "features"
GATE_FEATURES_OUTPUT_NAME = "gate_features"
"""An optional output for the gate alone (`OodCalibration.vector`): a model whose gate
reads other encoder features than its head outputs them here."""
SHA_PREFIX_CHARS = 12
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
MAX_MODEL_BYTES = 1 << 30
"""Larger files are refused unread: the bundled model is a few MB, and ONNX Runtime
loads a model from one protobuf, which cannot exceed 2 GiB anyway."""
MAX_THREADS = 256
"""More intra-op threads than this is a typo, not a machine: ONNX Runtime would start them all."""
EXACT_INT8_KEY = "session.x64quantprecision"
"""ONNX Runtime's session setting that keeps int8 products exact on x86 CPUs without
VNNI: there its fastest kernels add pairs of u8 x s8 products in 16 bits, which
saturate. Both bundled models are int8; on such a CPU the accurate tier lost 5.5 points
through a telephone line without it (docs/ARCHITECTURE.md). Every session that runs a
model sets it (`exact_int8`), so a model meets the numbers it was trained and measured
on whatever the CPU."""


@dataclass(frozen=True)
class ModelOptions:
    """How to run the model.

    Attributes:
        threads: Intra-op threads. One keeps a stream's latency steady and leaves
            cores to other streams; raise it for long utterances on an idle machine.
        gpu: Ask for the CUDA provider (onnxruntime-gpu and a GPU); an error if absent.
        memory_arena: ORT's CPU arena: about 10 % faster inference. It keeps the
            largest allocation it has seen, which the longest utterance bounds
            (`max_utterance_ms`), so memory still stays flat over hours.
        batch: Run utterances that several threads submit at once as one batch
            (`streamser.batching`), for models whose output does not change when
            zeros are put before an utterance (`frontend.leading_zeros_invariant`:
            the accurate tier). None: on with `gpu`, where a batch costs about what
            one utterance does; off on the CPU, where it costs the sum.
    """

    threads: int = 1
    gpu: bool = False
    memory_arena: bool = True
    batch: bool | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.threads <= MAX_THREADS:
            raise ValueError(f"threads must be within 1..{MAX_THREADS}, got {self.threads}")


DEFAULT_MODEL_OPTIONS = ModelOptions()


@dataclass(frozen=True)
class Inference:
    """One utterance's model outputs.

    Attributes:
        logits: `[classes]` float64.
        embedding: `[dim]` float64.
        features: `[feature_dim]` float64 pooled features of a speaker-normalised
            model (what its speaker statistics summarise); None for other models.
        gate_features: `[gate_dim]` float64, the features a model's gate alone reads;
            None for models whose gate reads another output.
    """

    logits: np.ndarray
    embedding: np.ndarray
    features: np.ndarray | None = None
    gate_features: np.ndarray | None = None

    def vector(self, name: str) -> np.ndarray | None:
        """The output an OOD calibration names (`OodCalibration.vector`)."""
        return {
            OUTPUT_NAMES[1]: self.embedding,
            FEATURES_OUTPUT_NAME: self.features,
            GATE_FEATURES_OUTPUT_NAME: self.gate_features,
        }[name]


class EmotionModel:
    """A loaded, validated model file. Build it with `EmotionModel.load`."""

    def __init__(
        self, session, metadata: ModelMetadata, path: Path, sha256: str, batch: bool = False
    ) -> None:
        self._session = session
        self.metadata = metadata
        self.path = path
        self.sha256 = sha256
        self.labels = metadata.labels
        self.min_samples = max(1, int(np.ceil(metadata.min_seconds * metadata.sample_rate)))
        self.max_samples = int(metadata.max_seconds * metadata.sample_rate)
        self._outputs = list(OUTPUT_NAMES)
        """What each run asks for: logits and embedding, then the optional outputs."""
        if metadata.speaker_normalisation is not None:
            self._outputs.append(FEATURES_OUTPUT_NAME)
        if metadata.ood.vector == GATE_FEATURES_OUTPUT_NAME:
            self._outputs.append(GATE_FEATURES_OUTPUT_NAME)
        self.providers: list[str] = list(session.get_providers())
        self.batcher: Batcher | None = None
        if batch and metadata.frontend.get("leading_zeros_invariant") is True:
            self.batcher = Batcher(self._run_batch)

    @property
    def short_sha(self) -> str:
        return self.sha256[:SHA_PREFIX_CHARS]

    @classmethod
    def load(
        cls, path: str | os.PathLike, options: ModelOptions = DEFAULT_MODEL_OPTIONS
    ) -> EmotionModel:
        """Opens and checks a model file.

        Raises:
            ModelError: Missing, unreadable, not ONNX, without streamser metadata,
                or with inputs/outputs other than the contract's; one line each.
        """
        path = Path(path)
        data = read_model_file(path)
        import onnxruntime  # lazily: `import streamser` stays light

        session_options = onnxruntime.SessionOptions()
        session_options.intra_op_num_threads = options.threads
        session_options.inter_op_num_threads = 1
        session_options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        session_options.enable_cpu_mem_arena = options.memory_arena
        session_options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        session_options.log_severity_level = 3  # errors only: unused-initializer notes are noise
        exact_int8(session_options)
        providers = _providers(options, onnxruntime.get_available_providers())
        try:
            session = onnxruntime.InferenceSession(data, session_options, providers=providers)
        except Exception as error:  # ORT raises its own exception types for bad files
            raise ModelError(f"{path}: not a loadable ONNX model ({_first_line(error)})") from None
        if options.gpu and CUDA not in session.get_providers():
            raise ModelError(
                f"{path}: the CUDA provider did not start (no usable GPU?); run without --gpu"
            )
        props = session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in props:
            raise ModelError(
                f"{path}: no streamser metadata (metadata_props[{METADATA_KEY!r}] is missing); "
                "export the model with training.export"
            )
        metadata = ModelMetadata.from_json(props[METADATA_KEY], source=str(path))
        _check_signature(session, metadata, path)
        sha = hashlib.sha256(data).hexdigest()
        log.info("loaded %s (%s, sha256 %s, %s)", path, metadata.name, sha[:12], providers)
        batch = options.gpu if options.batch is None else options.batch
        model = cls(session, metadata, path, sha, batch)
        # ORT allocates and plans on the first run; pay that here, not on the
        # first utterance of a live stream, whose latency would show it.
        try:
            model.infer(np.zeros(metadata.sample_rate, dtype=np.float32))
        except Exception as error:  # ORT's own exception types again
            raise ModelError(
                f"{path}: fails on one second of silence ({_first_line(error)})"
            ) from None
        return model

    @property
    def speaker_normalised(self) -> bool:
        return self.metadata.speaker_normalisation is not None

    def infer(self, waveform: np.ndarray, speaker: SpeakerStatistics | None = None) -> Inference:
        """One utterance of float32 samples in [-1, 1] at the model's rate -> its outputs.

        The length is fitted with `fit_length`, as training fits it. A
        speaker-normalised model reads the stream's `speaker` statistics (none: the
        population prior alone), and the utterance is then added to them.
        """
        x = fit_length(np.asarray(waveform, dtype=np.float32), self.min_samples, self.max_samples)
        info = self.metadata.speaker_normalisation
        context = None
        if info is not None:
            context = (speaker or SpeakerStatistics()).inputs(info.feature_dim)
        if self.batcher is not None:
            outputs = self.batcher.submit((x, context))
        else:
            feed = {INPUT_NAME: x[None, :], **(context or {})}
            batch = self._session.run(self._outputs, feed)
            outputs = {name: output[0] for name, output in zip(self._outputs, batch, strict=True)}
        as_float = {k: v.astype(np.float64) for k, v in outputs.items()}
        features = as_float.get(FEATURES_OUTPUT_NAME)
        if speaker is not None and features is not None:
            speaker.add(outputs[FEATURES_OUTPUT_NAME])
        return Inference(
            as_float[OUTPUT_NAMES[0]],
            as_float[OUTPUT_NAMES[1]],
            features,
            as_float.get(GATE_FEATURES_OUTPUT_NAME),
        )

    def _run_batch(self, items) -> list[dict[str, np.ndarray]]:
        """[(waveform, speaker inputs or None)] -> per item, its outputs by name: one run,
        shorter utterances padded with leading zeros to the longest."""
        longest = max(len(x) for x, _ in items)
        feed = {INPUT_NAME: np.stack([np.pad(x, (longest - len(x), 0)) for x, _ in items])}
        if self.metadata.speaker_normalisation is not None:
            for name in SPEAKER_INPUT_NAMES:
                feed[name] = np.concatenate([context[name] for _, context in items])
        outputs = self._session.run(self._outputs, feed)
        return [
            {name: output[i] for name, output in zip(self._outputs, outputs, strict=True)}
            for i in range(len(items))
        ]

    def describe(self) -> dict[str, str]:
        return {"name": self.metadata.name, "sha256": self.short_sha, "path": str(self.path)}


def exact_int8(session_options):
    """`session_options` with EXACT_INT8_KEY on; returns them."""
    session_options.add_session_config_entry(EXACT_INT8_KEY, "1")
    return session_options


def read_model_file(path: Path) -> bytes:
    """The bytes of a model file: a regular file of at most `MAX_MODEL_BYTES`.

    A FIFO would wait for a writer and a device (`/dev/zero`) never ends, so
    anything else is refused before a byte is read.

    Raises:
        ModelError: Missing, not a regular file, too large or unreadable.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before it can be refused.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a directory, expected an .onnx model file") from None
    except OSError as error:
        raise ModelError(f"{path}: cannot read model ({error.strerror})") from None
    info = os.fstat(fd)
    problem = None
    if stat.S_ISDIR(info.st_mode):
        problem = "is a directory, expected an .onnx model file"
    elif not stat.S_ISREG(info.st_mode):
        problem = "not a regular file, expected an .onnx model file"
    elif info.st_size > MAX_MODEL_BYTES:
        problem = (
            f"{info.st_size} bytes, larger than a model may be ({MAX_MODEL_BYTES // 2**20} MiB)"
        )
    if problem is not None:
        os.close(fd)
        raise ModelError(f"{path}: {problem}")
    with os.fdopen(fd, "rb") as handle:
        try:
            return handle.read(info.st_size)  # no more than was checked, should it grow
        except OSError as error:
            raise ModelError(f"{path}: cannot read model ({error.strerror})") from None


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def fit_length(waveform: np.ndarray, min_samples: int, max_samples: int) -> np.ndarray:
    """An utterance as the model takes it; training and runtime both call this.

    Shorter than the minimum: repeated up to it (zero padding would shift the
    per-utterance feature statistics). Longer than the maximum: the centre is kept
    (the metadata's contract). Empty: silence of the minimum length.
    """
    if len(waveform) > max_samples:
        offset = (len(waveform) - max_samples) // 2
        return waveform[offset : offset + max_samples]
    if len(waveform) == 0:
        return np.zeros(min_samples, dtype=waveform.dtype)
    if len(waveform) < min_samples:
        return np.tile(waveform, -(-min_samples // len(waveform)))[:min_samples]
    return waveform


def _providers(options: ModelOptions, available: list[str]) -> list[str]:
    if not options.gpu:
        return [CPU]
    if CUDA not in available:
        raise ModelError(
            "--gpu needs onnxruntime-gpu with the CUDA provider "
            f"(this onnxruntime has: {', '.join(available)})"
        )
    return [CUDA, CPU]


def _check_signature(session, metadata: ModelMetadata, path: Path) -> None:
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    expected = [INPUT_NAME]
    if metadata.speaker_normalisation is not None:
        expected += SPEAKER_INPUT_NAMES
        if FEATURES_OUTPUT_NAME not in outputs:
            raise ModelError(f"{path}: a speaker-normalised model needs a 'features' output")
    gate = metadata.ood.vector
    if gate == GATE_FEATURES_OUTPUT_NAME and gate not in outputs:
        raise ModelError(f"{path}: its gate reads {gate!r}, an output the model lacks")
    if sorted(inputs) != sorted(expected):
        raise ModelError(
            f"{path}: expected input(s) {', '.join(expected)}, found {', '.join(inputs) or 'none'}"
        )
    if inputs[INPUT_NAME].type != "tensor(float)" or len(inputs[INPUT_NAME].shape) != 2:
        raise ModelError(f"{path}: input {INPUT_NAME!r} must be float32 [batch, samples]")
    missing = [name for name in OUTPUT_NAMES if name not in outputs]
    if missing:
        raise ModelError(f"{path}: model lacks output(s) {', '.join(missing)}")
    classes = outputs["logits"].shape[-1]
    if isinstance(classes, int) and classes != len(metadata.labels):
        raise ModelError(
            f"{path}: logits have {classes} classes but the metadata names {len(metadata.labels)}"
        )
    dim = outputs["embedding"].shape[-1]
    if isinstance(dim, int) and dim != metadata.embedding_dim:
        raise ModelError(
            f"{path}: embedding has {dim} dimensions but the metadata says {metadata.embedding_dim}"
        )
    if metadata.sample_rate != SAMPLE_RATE_HZ:
        raise ModelError(
            f"{path}: model expects {metadata.sample_rate} Hz, the runtime streams {SAMPLE_RATE_HZ}"
        )
