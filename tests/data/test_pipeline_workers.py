"""How many loader processes decode for the loop: none where nothing is per sample or the CPU needs its cores."""

from __future__ import annotations

import pytest
import torch

from mmfusion.data.pipeline import auto_workers

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize(("live", "pretokenized", "device", "cores", "expected"), [
    ([], set(), CPU, 16, 0),                      # every encoder cached: nothing to decode per step
    (["text"], {"text"}, CUDA, 16, 0),            # text tokenised once up front
    (["image"], set(), CPU, 2, 0),                # two cores: the model needs both
    (["image"], set(), CPU, 8, 4),                # half the cores decode, the model keeps the rest
    (["image"], set(), CPU, 32, 4),
    (["image"], set(), CUDA, 16, 8),              # the model is on the GPU: the cores only feed it
    (["image"], set(), CUDA, 4, 3),
    (["image"], set(), CUDA, 1, 0),
])
def test_workers_are_sized_to_the_machine_and_the_device(live: list[str], pretokenized: set[str],
                                                         device: torch.device, cores: int, expected: int) -> None:
    assert auto_workers(live, pretokenized, device, cores=cores) == expected
