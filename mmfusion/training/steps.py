"""One pass over batches: training steps with accumulation, clipping and scaling; batched inference."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..batch import Batch
from ..model import MultimodalModel


def prepare_batch(batch: Batch, device: torch.device, channels_last_modalities: Sequence[str] = ()) -> Batch:
    batch = batch.to(device, non_blocking=device.type == "cuda")
    for m in channels_last_modalities:
        if m in batch.inputs:
            batch.inputs[m] = {k: v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v
                               for k, v in batch.inputs[m].items()}
    return batch


@dataclass
class EpochStats:
    loss: float
    samples: int
    seconds: float

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("nan")


def train_epoch(model: MultimodalModel, batches: Iterable[Batch], *, optimizer: torch.optim.Optimizer,
                scheduler: Any, scaler: Any, loss_fn: nn.Module, autocast: Callable[[], Any], device: torch.device,
                accumulate: int, clip: float | None, num_batches: int, channels_last: Sequence[str] = (),
                advance: Callable[..., None] | None = None) -> EpochStats:
    """Train for one epoch; gradients of ``accumulate`` batches are summed before each step."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    total_loss, samples = 0.0, 0
    started = time.perf_counter()
    for index, batch in enumerate(batches):
        batch = prepare_batch(batch, device, channels_last)
        with autocast():
            logits = model(batch)
        loss = loss_fn(logits.float(), batch.labels)
        group_start = index - index % accumulate  # the last group of an epoch may hold fewer batches
        scaled = loss / min(accumulate, num_batches - group_start)
        (scaler.scale(scaled) if scaler is not None else scaled).backward()
        if (index + 1) % accumulate == 0 or index + 1 == num_batches:
            if clip is not None:
                if scaler is not None:
                    scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
        size = len(batch)
        total_loss += float(loss.detach()) * size
        samples += size
        if advance is not None:
            advance(1, info=f"loss {total_loss / samples:.4f}")
    return EpochStats(total_loss / max(samples, 1), samples, time.perf_counter() - started)


@dataclass
class Predictions:
    """Class probabilities for every row, with the mean loss when labels were known."""

    probabilities: np.ndarray
    labels: np.ndarray | None
    loss: float | None
    seconds: float

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)


@torch.inference_mode()
def predict_batches(model: MultimodalModel, batches: Iterable[Batch], *, autocast: Callable[[], Any],
                    device: torch.device, absent: Sequence[str] = (), channels_last: Sequence[str] = (),
                    loss_fn: nn.Module | None = None, advance: Callable[..., None] | None = None) -> Predictions:
    """Run the model in eval mode; modalities in ``absent`` are removed from every sample."""
    model.eval()
    probabilities, labels = [], []
    total_loss, samples = 0.0, 0
    started = time.perf_counter()
    for batch in batches:
        batch = prepare_batch(batch, device, channels_last)
        for m in absent:
            batch.present[m] = torch.zeros_like(batch.present[m])
        with autocast():
            logits = model(batch).float()
        probabilities.append(torch.softmax(logits, dim=1).cpu())
        if batch.labels is not None:
            labels.append(batch.labels.cpu())
            if loss_fn is not None:
                total_loss += float(loss_fn(logits, batch.labels)) * len(batch)
        samples += len(batch)
        if advance is not None:
            advance(1)
    probs = torch.cat(probabilities).numpy() if probabilities else np.zeros((0, model.num_classes))
    y = torch.cat(labels).numpy() if labels else None
    loss = total_loss / samples if (labels and loss_fn is not None and samples) else None
    return Predictions(probs, y, loss, time.perf_counter() - started)
