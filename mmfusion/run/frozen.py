"""Frozen pretrained encoders saved by reference: a run records where their weights come from, not a copy.

Copying frozen encoders into weights.safetensors and every checkpoint made a 60-run sweep over two of them (102 MB)
take 11 GB. Instead ``frozen_weights.json`` records, per such encoder, its config, where the weights came from and a
digest of every tensor; weights.safetensors leaves them out (its metadata names which). Loading rebuilds each one
from spec.yaml and checks the digest. Only what a rebuild reproduces is referenced: each frozen pretrained encoder is
built once more, on another random stream so that any randomly initialised part shows, and must have the same digest.
An encoder adapted with ``peft:`` is referenced the same way for its base, the parameters that do not train
(:func:`referenced_names`): its adapters (or trained biases) and its buffers go into the weights and checkpoints.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_origin

from ..errors import MMFusionError
from ..io import write_json_atomic, write_safetensors_atomic
from .errors import RESTORE, RunDirError
from .files import read_run_object
from .layout import FROZEN_WEIGHTS

if TYPE_CHECKING:
    from torch import Tensor, nn

    from ..interfaces.config import EncoderConfig
    from ..interfaces.encoder import Encoder
    from ..model.multimodal import MultimodalModel
    from ..registry import Registry
    from ..spec.spec import Spec

#: weights.safetensors metadata: the encoders whose tensors it leaves out, comma-separated
METADATA_KEY = "mmfusion.by_reference"


@dataclass(frozen=True)
class Reference:
    """One frozen encoder saved by reference (an entry of ``frozen_weights.json``)."""

    modality: str
    type: str
    source: str  #: where the weights come from, in the spec's words
    resolved: str  #: the file or folder they were read from in training, on that machine
    digest: str  #: :meth:`Encoder.weights_digest` of the tensors referenced (:func:`referenced_names`)
    tensors: int
    bytes: int
    config: dict[str, Any]

    @property
    def prefix(self) -> str:
        return f"encoders.{self.modality}."


def describe_source(config: EncoderConfig) -> str:
    """Where an encoder's weights come from, in the spec's words: ``weights:``, else its locating settings."""
    weights = getattr(config, "weights", None)
    if weights:
        return str(weights)
    data = config.model_dump(mode="json", exclude_defaults=True)
    choices = {k for k, f in type(config).model_fields.items() if get_origin(f.annotation) is Literal}
    shown = [f"{k}: {v}" for k, v in data.items() if isinstance(v, str) and k not in choices]  # names, locations
    if getattr(config, "pretrained", False):
        shown.append("pretrained: true")
    return f"{config.type} {', '.join(shown)}".strip()


@contextmanager
def host_rng_kept() -> Iterator[None]:
    """Python's and NumPy's global RNG states, as they were before the block, after it."""
    import numpy as np

    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


@contextmanager
def _another_random_stream(seed: int) -> Iterator[None]:
    """Build on a random stream other than training's, and leave training's untouched (CPU, Python, NumPy)."""
    import numpy as np
    import torch

    with torch.random.fork_rng(devices=[]), host_rng_kept():
        torch.default_generator.manual_seed(seed + 7919)
        random.seed(seed + 7919)
        np.random.seed((seed + 7919) % 2**32)
        yield


def referenced_names(encoder: Encoder) -> list[str]:
    """The state-dict entries of ``encoder`` that a reference would stand for: every one of a frozen encoder; of one
    adapted with ``peft:``, the parameters that do not train (its base); none of an encoder trained in full."""
    state = encoder.state_dict()
    if encoder.frozen:
        return list(state)
    if encoder.peft_type is None:
        return []
    fixed = {name for name, p in encoder.named_parameters(remove_duplicate=False) if not p.requires_grad}
    return [name for name in state if name in fixed]


def reference_digest(encoder: Encoder) -> str:
    """The digest of the tensors a reference stands for: every tensor's for a frozen encoder (and for one a spec
    now trains in full: resuming then fails on its optimiser state, which names the spec), the base's for an
    adapted one."""
    if encoder.frozen or getattr(encoder, "peft_type", None) is None:  # (a spec that unfroze it is caught later)
        return encoder.weights_digest()
    return encoder.weights_digest(referenced_names(encoder))


def find_references(model: MultimodalModel, *, registry: Registry | None = None, seed: int = 0
                    ) -> dict[str, Reference]:
    """The frozen encoders of ``model`` (and the bases of those adapted with ``peft:``) that a rebuild from their
    config reproduces, tensor for tensor (each candidate is built once more; any failure saves it in full)."""
    from ..model.builder import build_encoder

    found = {}
    for modality, encoder in model.encoders.items():
        names = set(referenced_names(encoder))
        if not (encoder.pretrained and names  # a plugin may keep a part of a frozen encoder trainable
                and not any(p.requires_grad for n, p in encoder.named_parameters() if n in names)):
            continue
        digest = reference_digest(encoder)
        try:
            with _another_random_stream(seed):
                rebuilt = build_encoder(encoder.config, registry=registry, path=f"model.encoders.{modality}")
            if reference_digest(rebuilt) != digest:
                continue
        except Exception:  # whatever stops a rebuild here would stop it at load time: keep the tensors
            continue
        state = {k: v for k, v in encoder.state_dict().items() if k in names}
        found[modality] = Reference(modality, encoder.config.type, describe_source(encoder.config),
                                    str(encoder.weights_path), digest, len(state),
                                    sum(t.numel() * t.element_size() for t in state.values()),
                                    encoder.config.model_dump(mode="json"))
    return found


def current(model: MultimodalModel, references: Mapping[str, Reference]) -> dict[str, Reference]:
    """The references whose encoder still holds the tensors they describe (a digest, remembered while unchanged)."""
    return {m: r for m, r in references.items()
            if m in model.encoders and reference_digest(model.encoders[m]) == r.digest}


def without(model: nn.Module, modalities: Iterable[str], state: Mapping[str, Tensor] | None = None
            ) -> dict[str, Tensor]:
    """``state`` (default: the model's) less the tensors that the encoders of ``modalities`` save by reference."""
    encoders = getattr(model, "encoders", {})
    left = {f"encoders.{m}.{name}" for m in modalities if m in encoders for name in referenced_names(encoders[m])}
    return {k: v for k, v in (model.state_dict() if state is None else state).items() if k not in left}


def write_weights(path: Path, model: MultimodalModel, references: Mapping[str, Reference]) -> dict[str, Reference]:
    """Write ``weights.safetensors`` without the referenced encoders, and ``frozen_weights.json`` before it (a
    crash in between leaves full weights or a record the partial ones can rely on); returns the references kept."""
    kept = current(model, references)
    record = path.with_name(FROZEN_WEIGHTS)
    if kept:
        write_json_atomic(record, {"encoders": {m: asdict(r) for m, r in sorted(kept.items())}})
    metadata = {METADATA_KEY: ",".join(sorted(kept))} if kept else None
    write_safetensors_atomic(path, without(model, kept), metadata=metadata)
    if not kept and record.is_file():
        record.unlink()  # from an earlier part of the run: the weights hold every tensor now
    return kept


def left_out(path: Path) -> list[str]:
    """The encoders whose tensors a weights file leaves out (none when every tensor is in the file)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        listed = (handle.metadata() or {}).get(METADATA_KEY, "")
    return [m for m in listed.split(",") if m]


def load_weights(model: MultimodalModel, path: Path) -> None:
    """Load a run's weights into a model that still holds the frozen encoders they leave out (training's)."""
    from safetensors.torch import load_file

    missing, unexpected = model.load_state_dict(load_file(str(path)), strict=False)
    stray = [*without(model, left_out(path), dict.fromkeys(missing)), *unexpected]
    if stray:
        raise RunDirError(f"{path} does not fit the model being trained ({stray[0]}); {RESTORE}")


_HOLDS = "the frozen encoders that weights.safetensors leaves out: their source and digest"


def read_references(path: Path) -> dict[str, Reference]:
    """``frozen_weights.json``, every entry checked (RunDirError when missing, damaged or malformed)."""
    if not path.exists():
        raise RunDirError(f"{path} is missing, and weights.safetensors leaves out frozen encoders' weights that it "
                          f"records (their source and digest); {RESTORE}")
    encoders = read_run_object(path, "encoders", holds=_HOLDS)
    names = {f.name for f in fields(Reference)}
    found = {}
    for modality, entry in encoders.items():
        if not isinstance(entry, dict) or set(entry) != names or entry.get("modality") != modality \
                or not all(isinstance(entry[k], str) for k in ("type", "source", "resolved", "digest")) \
                or not isinstance(entry["config"], dict):
            raise RunDirError(f"{path}: the entry of encoder '{modality}' is malformed; {RESTORE}")
        found[modality] = Reference(**entry)
    return found


def referenced_tensors(path: Path, spec: Spec, weights: Mapping[str, Tensor], registry: Registry | None = None
                       ) -> dict[str, Tensor]:
    """The tensors a run's weights file leaves out, rebuilt from spec.yaml and checked against their digests (a
    RunDirError when ``frozen_weights.json`` does not fit, or the weights cannot be loaded here or differ)."""
    modalities = left_out(path)
    if not modalities:
        return {}
    record = path.with_name(FROZEN_WEIGHTS)
    references = read_references(record)
    tensors: dict[str, Tensor] = {}
    for modality in modalities:
        reference = references.get(modality)
        if reference is None:
            raise RunDirError(f"{record} lacks encoder '{modality}', whose frozen weights {path.name} leaves out; "
                              f"{RESTORE}")
        config = spec.model.encoders.get(modality)
        if config is None:
            raise RunDirError(f"{path.parent / 'spec.yaml'} has no encoder '{modality}', but the run was trained "
                              "with one (see frozen_weights.json): restore the spec.yaml the run was trained with")
        if getattr(config, "peft", None) is None and any(k.startswith(reference.prefix) for k in weights):
            continue  # the weights hold this encoder after all (a crash between the two writes): they win
        tensors.update({reference.prefix + k: v for k, v in _rebuild(reference, config, path, registry).items()})
    return tensors


def _rebuild(reference: Reference, config: EncoderConfig, path: Path, registry: Registry | None
             ) -> dict[str, Tensor]:
    from ..model.builder import build_encoder

    run, modality = path.parent, reference.modality
    asked = describe_source(config)
    now = "" if asked == reference.source else f" (spec.yaml now asks for {asked})"
    intro = (f"{run}: the frozen weights of encoder '{modality}' ({reference.type}) are not in {path.name}; the run "
             f"refers to them ({FROZEN_WEIGHTS}): {reference.source}, digest {reference.digest}, read from "
             f"{reference.resolved} in training")
    try:
        encoder = build_encoder(config, registry=registry, path=f"model.encoders.{modality}")
    except MMFusionError as exc:
        raise RunDirError(
            f"{intro}. They cannot be loaded here{now}: {exc}. Make them available (install the package, copy the "
            f"file, or fill the model cache), or, where they live elsewhere on this machine, point "
            f"model.encoders.{modality} in {run / 'spec.yaml'} to them") from None
    found = reference_digest(encoder)
    if found != reference.digest:
        raise RunDirError(
            f"{intro}. The weights that load here{now} have digest {found}: they are not the ones the run was "
            "trained with (another version of the file or package?). Restore those weights, or retrain")
    names = set(referenced_names(encoder))  # a PEFT encoder's adapters come from the run's weights, not from here
    return {k: v for k, v in encoder.state_dict().items() if k in names}
