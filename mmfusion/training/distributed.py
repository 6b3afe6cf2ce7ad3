"""Distributed data parallel training under torchrun: process group, sharding, reductions.

Each of the N processes trains on its shard of every batch (global batch = N × ``train.batch_size``), DDP
averages the gradients, and only rank 0 writes the run directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job; a single process is ``world_size == 1``."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def sum(self, *values: float) -> list[float]:
        if not self.enabled:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64)
        if torch.distributed.get_backend() == "nccl":
            tensor = tensor.cuda()
        torch.distributed.all_reduce(tensor)
        return tensor.cpu().tolist()

    def gather(self, value: Any) -> list[Any]:
        if not self.enabled:
            return [value]
        out: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(out, value)
        return out

    def shutdown(self) -> None:
        if self.enabled and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def from_environment(device: str) -> tuple[Distributed, str]:
    """Join the process group torchrun set up (if any): with CUDA each process takes ``cuda:LOCAL_RANK`` and NCCL,
    otherwise all use the CPU and gloo. Returns the context and the device to use."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed(), device
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device in {"auto", "cuda"}
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        return Distributed(world, rank, local_rank), f"cuda:{local_rank}"
    return Distributed(world, rank, local_rank), "cpu" if device in {"auto", "cuda"} else device


def shard(order: torch.Tensor, dist: Distributed) -> torch.Tensor:
    """This process's part of an epoch's order, padded so that every process gets as many samples. Process r takes
    positions r, r + N, ...: global batch k holds the samples one process with batches of N × b puts in its batch k."""
    if not dist.enabled:
        return order
    remainder = len(order) % dist.world_size
    if remainder:
        order = torch.cat([order, order[: dist.world_size - remainder]])
    return order[dist.rank::dist.world_size]


def shard_batches(rows: int, batch_size: int, dist: Distributed) -> int:
    return -(-len(shard(torch.arange(rows), dist)) // batch_size)
