"""One pass over the training batches: steps with gradient accumulation, clipping and scaling."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..inference.backends import prepare_batch
from ..model.batch import Batch
from ..model.multimodal import MultimodalModel
from .balance import BalancedTraining


@dataclass
class EpochStats:
    loss: float
    samples: int
    seconds: float


def train_epoch(model: MultimodalModel, batches: Iterable[Batch], *, optimizer: torch.optim.Optimizer,
                scheduler: Any, scaler: Any, loss_fn: nn.Module, autocast: Callable[[], Any], device: torch.device,
                accumulate: int, clip: float | None, num_batches: int, channels_last: Sequence[str] = (),
                advance: Callable[..., None] | None = None,
                on_batch_end: Callable[[int, float], None] | None = None,
                on_after_backward: Callable[[int], None] | None = None,
                balance: BalancedTraining | None = None) -> EpochStats:
    """Train for one epoch; gradients of ``accumulate`` batches are summed before each step. ``balance`` makes
    each batch's objective; the loss reported is the fused head's either way. ``on_after_backward(batch)`` runs
    before each optimiser step, on the summed gradients (unscaled under a grad scaler), before clipping."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    total_loss, samples = 0.0, 0
    started = time.perf_counter()
    for index, batch in enumerate(batches):
        batch = prepare_batch(batch, device, channels_last)
        if balance is None:
            with autocast():
                logits = model(batch)
            objective = loss = loss_fn(logits.float(), batch.labels)
        else:
            objective, loss = balance.loss(model, batch, loss_fn, autocast)
        group_start = index - index % accumulate  # the last group of an epoch may hold fewer batches
        scaled = objective / min(accumulate, num_batches - group_start)
        (scaler.scale(scaled) if scaler is not None else scaled).backward()
        if (index + 1) % accumulate == 0 or index + 1 == num_batches:
            if scaler is not None and (clip is not None or on_after_backward is not None):
                scaler.unscale_(optimizer)  # once per step: the hook and clipping see true gradients
            if on_after_backward is not None:
                on_after_backward(index)
            if clip is not None:
                torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
        size = len(batch)
        value = float(loss.detach())
        total_loss += value * size
        samples += size
        if on_batch_end is not None:
            on_batch_end(index, value)
        if advance is not None:
            advance(1, info=f"loss {total_loss / samples:.4f}")
    return EpochStats(total_loss / max(samples, 1), samples, time.perf_counter() - started)
