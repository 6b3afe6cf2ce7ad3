"""Loading weights files generically: safetensors or (weights-only: nothing unpickled beyond tensors) torch files,
matched to a module by name or, where the tensors line up, by order."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import WeightsError
from ..interfaces.encoder import Encoder
from ..interfaces.locations import resolve_location

_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "module", "net")
_PREFIXES = re.compile(r"^(?:module\.|model\.|_orig_mod\.)+")  # wrappers: DDP, a Lightning module, torch.compile
_FOLDER_FILES = ("model.safetensors", "pytorch_model.bin", "model.pth", "weights.safetensors")


def weights_file(path: Path, *, what: str = "weights") -> Path:
    """The file a weights location means: itself, or the first of the usual names inside a folder."""
    if not path.is_dir():
        return path
    for name in _FOLDER_FILES:
        if (path / name).exists():
            return path / name
    raise WeightsError(f"{what}: folder {path} holds none of {', '.join(_FOLDER_FILES)}")


def load_state_dict_file(path: Path, *, what: str = "weights") -> dict[str, Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{what}: cannot read {path}: {type(exc).__name__}: {exc}") from exc
    for key in _WRAPPER_KEYS:  # training checkpoints often nest the weights
        if isinstance(state, Mapping) and key in state and isinstance(state[key], Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightsError(f"{what}: {path} does not hold a mapping of names to tensors")
    return dict(state)


def _strip(key: str) -> str:
    return _PREFIXES.sub("", key)


def _optional(key: str) -> bool:
    """Bookkeeping buffers that older files lack and PyTorch itself does not require (BatchNorm's step count)."""
    return key.endswith("num_batches_tracked")


def match_state_dict(target: Mapping[str, Tensor], source: Mapping[str, Tensor], *, what: str = "weights",
                     by_order: bool = True) -> dict[str, Tensor]:
    """Map ``source`` tensors onto the keys of ``target`` (optional buffers the source lacks are left out).

    By name first (wrapper prefixes such as ``module.`` ignored). If names do not cover the target but the tensors line
    up in order with equal shapes, by order (only when ``by_order``: a file format that keeps the saving order); the
    source may then hold extra tensors at its end (a classification head the target has no use for).

    Raises:
        WeightsError: neither way matches; the message lists what is missing or mis-shaped.
    """
    by_name = {_strip(k): v for k, v in source.items()}
    required = {k: v for k, v in target.items() if not (_optional(k) and _strip(k) not in by_name)}
    matched = {k: by_name[_strip(k)] for k in required if _strip(k) in by_name}
    shape_errors = [k for k, v in matched.items() if v.shape != target[k].shape]
    if len(matched) == len(required) and not shape_errors:
        return matched
    essential = {k: v for k, v in target.items() if not _optional(k)}
    for candidate in (target, essential) if by_order else ():  # with the counters, or a file without them
        if len(source) >= len(candidate) and all(s.shape == t.shape for s, t in zip(source.values(),
                                                                                     candidate.values())):
            return dict(zip(candidate.keys(), source.values()))
    missing = [k for k in required if k not in matched]
    detail = [f"{len(missing)} of {len(required)} tensors missing (e.g. {', '.join(missing[:3])})"] if missing else []
    if shape_errors:
        k = shape_errors[0]
        detail.append(f"{len(shape_errors)} with other shapes (e.g. {k}: file {tuple(matched[k].shape)}, "
                      f"model {tuple(target[k].shape)})")
    order = (f"matching by order failed too (file has {len(source)} tensors, model {len(required)})" if by_order
             else "matching by order is not tried for .safetensors files, which do not keep the saving order")
    raise WeightsError(f"{what}: the file's tensors do not fit the model: {'; '.join(detail)}. Names did not match "
                       f"and {order}. Check that the weights are for this architecture.")


def load_weights_into(module: nn.Module, location: str, *, what: str = "weights") -> Path:
    """Load a local or ``package:`` weights file into ``module``; returns the resolved path."""
    path = resolve_location(location, what=what)
    file = weights_file(path, what=what)
    source = load_state_dict_file(file, what=what)
    matched = match_state_dict(module.state_dict(), source, what=f"{what} ({path})",
                               by_order=file.suffix != ".safetensors")
    left_out = [k for k in module.state_dict() if k not in matched]  # only optional buffers can be
    module.load_state_dict(matched, strict=not left_out)
    return path


def load_configured_weights(encoder: Encoder, *, what: str | None = None) -> Path | None:
    """Load an encoder's ``config.weights`` into its ``weights_target()`` and set its ``weights_path`` (returned;
    None when there was nothing to load); the builder calls this once after building, unless the encoder's
    ``loads_own_weights`` says ``__init__`` already did. A WeightsError names ``what`` (the setting)."""
    location = getattr(encoder.config, "weights", None)
    if location is None or encoder.loads_own_weights:
        return None
    encoder.weights_path = load_weights_into(encoder.weights_target(), location, what=what or f"{encoder.name} weights")
    return encoder.weights_path
