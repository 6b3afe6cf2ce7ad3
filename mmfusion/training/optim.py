"""Optimiser and schedule: AdamW with one learning rate for pretrained encoders and one for new layers."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..model.multimodal import MultimodalModel
from ..spec.train_spec import TrainSpec


def parameter_groups(model: MultimodalModel, train: TrainSpec) -> list[dict]:
    """Trainable parameters grouped by learning rate and weight decay: pretrained encoders get ``encoder_lr``,
    everything else ``lr`` (the adapters of a ``peft:`` encoder too: new layers, or BitFit's biases, that need a new
    layer's rate); biases, normalisation weights and IA3's scaling vectors get no weight decay."""
    groups: dict[tuple[str, bool], list[nn.Parameter]] = {}
    for module in [*model.encoders.values(), model.fusion, model.head, *([model.aux] if model.aux is not None else [])]:
        pretrained = bool(getattr(module, "pretrained", False)) and getattr(module, "peft_type", None) is None
        for param_name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            # IA3's scaling vectors are stored [n, 1]: decaying them would pull them to 0 (the layer off), not to
            # their identity value 1
            decay = param.ndim >= 2 and "norm" not in param_name.lower() and "ia3_" not in param_name
            groups.setdefault(("encoder" if pretrained else "new", decay), []).append(param)
    return [{"params": params, "lr": train.encoder_lr if kind == "encoder" else train.lr,
             "weight_decay": train.weight_decay if decay else 0.0, "name": f"{kind}{'' if decay else '-no-decay'}"}
            for (kind, decay), params in sorted(groups.items())]


def make_optimizer(model: MultimodalModel, train: TrainSpec, device: torch.device) -> torch.optim.Optimizer:
    """AdamW, fused where this torch build supports it on the device."""
    groups = parameter_groups(model, train)
    if not groups:
        raise ValueError("the model has no trainable parameters (are all components frozen?)")
    try:
        return torch.optim.AdamW(groups, fused=device.type in {"cuda", "cpu"} or None)
    except (RuntimeError, TypeError):  # fused not available for this device / dtype
        return torch.optim.AdamW(groups)


def make_scheduler(optimizer: torch.optim.Optimizer, train: TrainSpec, total_steps: int
                   ) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine or linear decay to zero (or constant)."""
    warmup = int(round(train.warmup * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if train.scheduler == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        if train.scheduler == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
