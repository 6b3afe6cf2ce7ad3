"""Checks every classifier head must pass."""

from __future__ import annotations

import torch

from ..interfaces.classifier import Classifier
from .common import TASK_OUTPUTS, build, check_configs, check_task_step, close, configs_for, require, roundtrip_state


def _new(component: type[Classifier], config, outputs: int = 5, seed: int = 0) -> Classifier:  # type: ignore
    return build(component, config, 16, outputs, kind="head", num_classes=outputs, seed=seed)


def check_head_config(component: type[Classifier]) -> None:
    """Configs round-trip through JSON, forbid unknown keys and carry the component's name as type."""
    check_configs(component)


def check_head_output(component: type[Classifier]) -> None:
    """Logits are [B, num_classes], finite, and a sample's logits do not depend on its batch."""
    for config in configs_for(component):
        head = _new(component, config).eval()
        x = torch.randn(4, 16)
        with torch.no_grad():
            logits = head(x)
            alone = head(x[:1])
        require(tuple(logits.shape) == (4, 5), f"logits have shape {tuple(logits.shape)}, expected (4, 5)")
        require(bool(torch.isfinite(logits).all()), "logits hold non-finite values")
        require(close(logits[:1], alone), "a sample's logits depend on the other samples in the batch")


def check_head_state_dict_roundtrip(component: type[Classifier]) -> None:
    """Weights saved with safetensors and loaded into a fresh instance give the same logits."""
    for config in configs_for(component):
        first = _new(component, config).eval()
        second = _new(component, config, seed=1).eval()
        roundtrip_state(first, second, component)
        x = torch.randn(3, 16)
        with torch.no_grad():
            require(close(first(x), second(x)), "logits differ after loading the saved state_dict")


def check_head_trainable(component: type[Classifier]) -> None:
    """Gradients reach the head's parameters and its input."""
    for config in configs_for(component):
        head = _new(component, config).train()
        x = torch.randn(4, 16, requires_grad=True)
        logits = head(x)
        (logits * torch.randn(logits.shape, generator=torch.Generator().manual_seed(0))).sum().backward()
        require(x.grad is not None and bool(x.grad.abs().sum() > 0), "no gradient reaches the head's input")


def check_head_tasks(component: type[Classifier]) -> None:
    """Every task trains through the head: 5 outputs with cross-entropy (multiclass) and with binary
    cross-entropy on multi-hot targets (multilabel), and a single output (binary, one logit)."""
    for config in configs_for(component):
        for task, outputs in TASK_OUTPUTS:
            head = _new(component, config, outputs).train()
            x = torch.randn(6, 16, requires_grad=True)
            check_task_step(f"{component.__name__} (num_classes={outputs})", task, head(x), (6, outputs),
                            list(head.parameters()), [x])


HEAD_CHECKS = [check_head_config, check_head_output, check_head_state_dict_roundtrip, check_head_trainable,
               check_head_tasks]
