"""Checks every loss must pass: declared tasks, the targets of each, one scalar to minimise, a mean over rows,
gradients, class weights used or refused."""

from __future__ import annotations

import torch

from ..errors import MMFusionError
from ..interfaces.loss import Loss
from .common import TASK_OUTPUTS, check_configs, configs_for, network_blocked, require

BATCH = 6


def _new(component: type[Loss], config, outputs: int, class_weights: torch.Tensor | None = None) -> Loss:  # type: ignore[no-untyped-def]
    with network_blocked():
        return component(config, outputs, class_weights)


def _targets(task: str, outputs: int, batch: int = BATCH, seed: int = 0) -> torch.Tensor:
    """Targets as training hands them to a loss (see :class:`mmfusion.Loss`)."""
    g = torch.Generator().manual_seed(seed)
    if task == "multiclass":
        return torch.arange(batch) % outputs  # every class appears: class weights must show
    if task == "multilabel":
        return (torch.rand(batch, outputs, generator=g) > 0.5).float()
    return torch.arange(batch) % 2


def _declared(component: type[Loss]) -> list[tuple[str, int]]:
    return [(task, outputs) for task, outputs in TASK_OUTPUTS if task in component.tasks]


def check_loss_config(component: type[Loss]) -> None:
    """Configs round-trip through JSON, forbid unknown keys and carry the component's name as type."""
    check_configs(component)


def check_loss_declares_tasks(component: type[Loss]) -> None:
    """``tasks`` is a tuple of known task names and ``multiclass_scores`` is softmax or sigmoid."""
    from ..registry import loss_tasks_problem

    problem = loss_tasks_problem(component)
    require(problem is None, problem or "")
    require(component.multiclass_scores in ("softmax", "sigmoid"),
            f"{component.__name__}.multiclass_scores is {component.multiclass_scores!r}; use 'softmax' or 'sigmoid'")


def check_loss_per_task(component: type[Loss]) -> None:
    """For each declared task, on its logits and targets: one finite scalar, lower for logits that favour the
    targets than for logits that favour others, with finite gradients reaching every logit."""
    for config in configs_for(component):
        for task, outputs in _declared(component):
            loss_fn = _new(component, config, outputs)
            targets = _targets(task, outputs)
            logits = torch.randn(BATCH, outputs, generator=torch.Generator().manual_seed(1), requires_grad=True)
            value = loss_fn(logits, targets)
            require(isinstance(value, torch.Tensor) and value.ndim == 0,
                    f"{task}: the loss returned {_what(value)}, not a scalar tensor (reduce over the batch)")
            require(bool(torch.isfinite(value)), f"{task}: the loss is not finite ({float(value)})")
            value.backward()
            require(logits.grad is not None and bool(torch.isfinite(logits.grad).all()),
                    f"{task}: the loss gives no finite gradient to the logits")
            require(bool((logits.grad.abs().sum(dim=1) > 0).all()),
                    f"{task}: some rows' logits get no gradient: every row must count")
            good, bad = _confident(task, targets, outputs)
            with torch.no_grad():
                require(float(loss_fn(good, targets)) < float(loss_fn(bad, targets)),
                        f"{task}: the loss is not lower for logits that predict the targets than for logits that "
                        "predict the opposite: check its sign and its targets")


def check_loss_is_a_mean_over_rows(component: type[Loss]) -> None:
    """The batch twice gives the loss of the batch once: a mean, not a sum, so that ``val_loss`` and the
    learning rate do not depend on the batch size."""
    for config in configs_for(component):
        for task, outputs in _declared(component):
            loss_fn = _new(component, config, outputs)
            targets = _targets(task, outputs)
            logits = torch.randn(BATCH, outputs, generator=torch.Generator().manual_seed(2))
            with torch.no_grad():
                once = float(loss_fn(logits, targets))
                twice = float(loss_fn(torch.cat([logits, logits]), torch.cat([targets, targets])))
            require(abs(once - twice) <= 1e-4 * max(1.0, abs(once)),
                    f"{task}: the loss of the batch repeated twice is {twice:.6g}, of the batch {once:.6g}: reduce "
                    "with a mean over rows (a sum grows with the batch size)")


def check_loss_class_weights(component: type[Loss]) -> None:
    """Multiclass: class weights (``train.imbalance: class_weights``) change the loss, or building with them
    raises an ``MMFusionError`` that says so; silently ignoring them is a failure."""
    if "multiclass" not in component.tasks:
        return
    outputs = 5
    weights = torch.tensor([5.0, 1.0, 1.0, 0.2, 1.0])
    for config in configs_for(component):
        try:
            weighted = _new(component, config, outputs, weights)
        except MMFusionError:
            continue
        plain = _new(component, config, outputs)
        targets = _targets("multiclass", outputs)
        logits = torch.randn(BATCH, outputs, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            same = torch.isclose(weighted(logits, targets), plain(logits, targets), rtol=1e-6, atol=1e-7)
        require(not bool(same), "class_weights do not change the loss: use them, or raise an MMFusionError when "
                "built with them (train.imbalance: class_weights would otherwise be ignored)")


def _confident(task: str, targets: torch.Tensor, outputs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits that strongly predict the targets, and logits that strongly predict something else."""
    if task == "multiclass":
        good = torch.full((len(targets), outputs), -4.0).scatter(1, targets[:, None], 4.0)
        return good, good.roll(1, dims=1)
    sign = (targets.float() * 2 - 1).reshape(len(targets), -1)
    return 4.0 * sign, -4.0 * sign


def _what(value: object) -> str:
    return f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else f"a {type(value).__name__}"


LOSS_CHECKS = [check_loss_config, check_loss_declares_tasks, check_loss_per_task, check_loss_is_a_mean_over_rows,
               check_loss_class_weights]
