"""What the machine can do, to put benchmark speeds in proportion: GEMM throughput and FLOPs of real work.

A ratio against a slow reference loop says nothing about how much of the hardware is used. These helpers
measure the machine's dense matmul throughput with torch (the best case for any model) and count the FLOPs
of mmfusion's own steps with ``torch.utils.flop_counter``, so a benchmark can report useful GFLOP/s as a
fraction of the peak measured in the same run.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from mmfusion import Callback


def gemm_gflops(dtype: torch.dtype, device: str = "cpu", seconds: float = 2.0) -> float:
    """Sustained GFLOP/s of square matmuls in ``dtype`` (2048² on the CPU, 8192² on a GPU; best of 3 bursts)."""
    size = 2048 if device == "cpu" else 8192
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(2):
        a @ b
    sync()
    best = 0.0
    for _ in range(3):
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / 3:
            a @ b
            count += 1
            if count % 8 == 0:
                sync()
        sync()
        best = max(best, 2 * size**3 * count / (time.perf_counter() - started) / 1e9)
    return best


def machine_peaks(device: str = "cpu") -> dict[str, Any]:
    """fp32, bf16 (and on CUDA fp16) GEMM GFLOP/s on ``device`` with torch's threads, and what it is."""
    peaks: dict[str, Any] = {"device": device, "threads": torch.get_num_threads(),
                             "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if device.startswith("cuda"):
        peaks["gpu"] = torch.cuda.get_device_name(device)
        peaks["gemm_fp16_gflops"] = round(gemm_gflops(torch.float16, device), 1)
    peaks["gemm_fp32_gflops"] = round(gemm_gflops(torch.float32, device), 1)
    peaks["gemm_bf16_gflops"] = round(gemm_gflops(torch.bfloat16, device), 1)
    return peaks


def peak_for(peaks: dict[str, Any], precision: str) -> float:
    """The GEMM peak of the precision a run used (its useful FLOPs are compared with that)."""
    return peaks.get(f"gemm_{precision}_gflops") or peaks["gemm_fp32_gflops"]


class FirstBatchFlops(Callback):
    """A training callback counting the FLOPs (forward + backward) of the first batch of the first epoch.

    The counter wraps only that batch: its dispatch overhead slows one step of the timed epoch, so throughput
    derived from the epoch is, if anything, understated.
    """

    name = "first_batch_flops"

    def __init__(self) -> None:
        super().__init__()
        self.flops: int | None = None
        self.samples: int | None = None
        self._counter: Any = None

    def on_epoch_start(self, ctx: Any) -> None:
        if self.flops is None:
            from torch.utils.flop_counter import FlopCounterMode

            self._counter = FlopCounterMode(display=False)
            self._counter.__enter__()

    def on_batch_end(self, ctx: Any, batch: int, loss: float) -> None:
        if self._counter is not None:
            self._counter.__exit__(None, None, None)
            self.flops = self._counter.get_total_flops()
            self.samples = ctx.train.batch_size
            self._counter = None

    @property
    def per_sample(self) -> float:
        return (self.flops or 0) / max(self.samples or 1, 1)


def forward_flops(call: Any) -> int:
    """FLOPs of whatever torch computes inside ``call()`` (e.g. one ``predict_table`` on a few rows)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        call()
    return counter.get_total_flops()
