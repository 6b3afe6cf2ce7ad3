"""Training steps: gradient accumulation averages over the batches of each optimiser step."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path

import torch
from torch import nn

from mmfusion.model.builder import build_model
from mmfusion.model.featurizer import example_batch
from mmfusion.spec import load_spec
from mmfusion.training.steps import train_epoch

from ..conftest import write_spec


def _model_and_batches(tmp_path: Path, count: int):  # type: ignore[no-untyped-def]
    """A small CNN model without dropout, so that training mode is deterministic."""
    spec = load_spec(write_spec(tmp_path, "model:\n  encoders:\n    image: {type: timm, model_name: test_efficientnet, "
                                          "image_size: 32, freeze: false}\n  fusion: concat\n  head: linear\n"))
    torch.manual_seed(0)
    model = build_model(spec, 3)
    batches = []
    for seed in range(count):
        batch = example_batch(model, size=4, seed=seed)
        batch.labels = torch.tensor([seed % 3, (seed + 1) % 3, 0, 2])
        batches.append(batch)
    return model, batches


def _sgd_epoch(model, batches, accumulate: int) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    model = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    train_epoch(model, batches, optimizer=optimizer, scheduler=scheduler, scaler=None, loss_fn=nn.CrossEntropyLoss(),
                autocast=contextlib.nullcontext, device=torch.device("cpu"), accumulate=accumulate, clip=None,
                num_batches=len(batches))
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_a_short_last_group_is_averaged_over_its_own_batches(tmp_path: Path) -> None:
    model, batches = _model_and_batches(tmp_path, 3)
    # 3 batches with accumulate=2: steps over (b0, b1) and (b2). The second step must use b2's full gradient,
    # exactly as a run with accumulate=1 over b2 alone after the same first step.
    accumulated = _sgd_epoch(model, batches, accumulate=2)
    first = copy.deepcopy(model)
    first.load_state_dict(_sgd_epoch(model, batches[:2], accumulate=2))
    stepwise = _sgd_epoch(first, batches[2:], accumulate=1)
    changed = [k for k in accumulated if not torch.equal(accumulated[k], model.state_dict()[k])]
    assert changed, "training changed nothing"
    for key in accumulated:
        assert torch.allclose(accumulated[key], stepwise[key], atol=1e-6), key
