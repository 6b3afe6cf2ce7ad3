"""One forward pass on example inputs, checked stage by stage against the widths each component declares.

Without it, an encoder whose output is wider than its ``output_dim`` fails later, inside the fusion
("mat1 and mat2 shapes cannot be multiplied"), and the message names neither component. ``mmfusion build``
runs this; it is as useful in a plugin's own tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..errors import PluginError
from ..interfaces.encoder import Encoder, EncoderOutput
from .multimodal import MultimodalModel


@dataclass(frozen=True)
class ForwardReport:
    """What the checked forward pass ran on and returned."""

    batch_size: int
    present: dict[str, list[bool]]
    logits_shape: tuple[int, ...]
    seconds: float


def check_forward(model: MultimodalModel, *, size: int = 4, device: torch.device | str | None = None,
                  num_classes: int | None = None) -> ForwardReport:
    """Run ``model`` in eval mode on ``size`` example samples (some lacking an input) on ``device`` (default: where
    its parameters are) and check every stage.

    Each encoder's pooled output must be ``[B, output_dim]``, its tokens ``[B, T, output_dim]`` and its
    token mask bool ``[B, T]``; the fusion's output ``[B, fusion.output_dim]``; the head's ``[B, num_classes]``
    (default: the head's ``num_classes``); all finite.

    Raises:
        PluginError: a component raised or returned the wrong shape or non-finite values; the message names it
            by its spec path and type.
    """
    from .featurizer import example_batch

    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    classes = model.num_classes if num_classes is None else num_classes
    batch = example_batch(model, size=size).to(device)
    rows = len(batch)
    model.eval()
    started = time.perf_counter()
    with torch.inference_mode():
        outputs: dict[str, EncoderOutput] = {}
        for modality, encoder in model.encoders.items():
            where = f"model.encoders.{modality} ({encoder.config.type})"
            out = _call(where, encoder, batch.inputs[modality])
            _check_encoder(where, encoder, out, rows)
            outputs[modality] = out
        fusion = model.fusion
        where = f"model.fusion ({fusion.config.type})"
        fused = _call(where, fusion, outputs, batch.present)
        _check_width(where, fused, rows, fusion.output_dim, "output", "the fusion declares output_dim")
        head = model.head
        where = where if head.config.type == "none" else f"model.head ({head.config.type})"  # late fusion: no head
        logits = _call(where, head, fused)
        if not isinstance(logits, Tensor) or tuple(logits.shape) != (rows, classes):
            raise PluginError(f"{where}: returned scores of shape {_shape(logits)}, but the model has {classes} "
                              f"classes: expected ({rows}, {classes})")
        _check_finite(where, logits, "scores")
    return ForwardReport(rows, {m: batch.present[m].tolist() for m in model.modalities}, tuple(logits.shape),
                         round(time.perf_counter() - started, 3))


def _call(where: str, component: Callable[..., Any], *args: Any) -> Any:
    try:
        return component(*args)
    except Exception as exc:
        text = str(exc).split("Exception raised from")[0].strip()
        raise PluginError(f"{where}: the forward pass on a dummy batch failed: {type(exc).__name__}: {text}") from exc


def _shape(value: Any) -> str:
    return str(tuple(value.shape)) if isinstance(value, Tensor) else f"a {type(value).__name__}, not a tensor"


def _check_encoder(where: str, encoder: Encoder, out: Any, rows: int) -> None:
    if not isinstance(out, EncoderOutput):
        raise PluginError(f"{where}: forward returned {type(out).__name__}; an encoder returns "
                          "mmfusion.EncoderOutput(pooled, tokens, token_mask)")
    declared = "the encoder declares output_dim"
    _check_width(where, out.pooled, rows, encoder.output_dim, "pooled output", declared)
    if out.tokens is not None:
        tokens = out.tokens
        if tokens.ndim != 3 or tokens.shape[0] != rows:
            raise PluginError(f"{where}: tokens have shape {_shape(tokens)}, "
                              f"expected ({rows}, T, {encoder.output_dim})")
        if tokens.shape[2] != encoder.output_dim:
            raise PluginError(f"{where}: tokens have width {tokens.shape[2]}, but {declared} {encoder.output_dim}")
        _check_finite(where, tokens, "tokens")
    if out.token_mask is not None:
        mask = out.token_mask
        if out.tokens is None:
            raise PluginError(f"{where}: returned a token_mask but no tokens")
        if tuple(mask.shape) != tuple(out.tokens.shape[:2]) or mask.dtype != torch.bool:
            raise PluginError(f"{where}: token_mask has shape {_shape(mask)} and dtype {mask.dtype}, expected bool "
                              f"{tuple(out.tokens.shape[:2])} (one flag per token, True = real)")


def _check_width(where: str, value: Any, rows: int, width: int, what: str, declared: str) -> None:
    if not isinstance(value, Tensor) or value.ndim != 2 or value.shape[0] != rows:
        raise PluginError(f"{where}: {what} has shape {_shape(value)}, expected ({rows}, {width})")
    if value.shape[1] != width:
        raise PluginError(f"{where}: {what} has width {value.shape[1]}, but {declared} {width}")
    _check_finite(where, value, what)


def _check_finite(where: str, value: Tensor, what: str) -> None:
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise PluginError(f"{where}: {what}: non-finite values (NaN or infinity) on a dummy batch")
