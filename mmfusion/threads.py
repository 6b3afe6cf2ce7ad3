"""How many intra-op threads torch uses on the CPU while training, evaluating and predicting.

On a few cores, a small trainable part (a fusion and a head on cached features) runs *faster* on one thread:
its matrices are too small to split, and every op pays the cost of waking and joining the other threads
(measured in ``benchmarks/threads.py``; figures in benchmarks/README.md). Encoders that run in the loop
(fine-tuned, or frozen but not cached) are large enough to use every core that is not busy with other work.
``auto`` picks from that.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch

from .errors import MMFusionError

#: Trainable parameters up to which a CPU run with no encoder in the loop trains on one thread. Above it the
#: head's matrices are large enough to gain from a second core (benchmarks/threads.py).
SMALL_TRAINABLE = 4_000_000

ThreadsSetting = int | Literal["auto"] | None


@dataclass(frozen=True)
class ThreadChoice:
    """``count`` intra-op threads, and why (printed with the device and precision)."""

    count: int
    reason: str


def resolve_threads(requested: ThreadsSetting, device: torch.device, *, encoders_in_loop: bool,
                    trainable_parameters: int, busy: int | None = None) -> ThreadChoice | None:
    """The thread count for a run on ``device``; None leaves torch's setting alone (GPUs, or ``auto`` elsewhere).

    Args:
        requested: a count, or ``auto``/None.
        encoders_in_loop: whether any encoder runs in every step (fine-tuned, or frozen without the cache).
        trainable_parameters: parameters the optimiser updates.
        busy: other runnable threads on the machine (default: :func:`busy_elsewhere`, sampled now).

    Raises:
        MMFusionError: a count below 1.
    """
    if isinstance(requested, int) and not isinstance(requested, bool):
        if requested < 1:
            raise MMFusionError(f"threads must be at least 1 (got {requested}); use `auto` to let mmfusion choose")
        return ThreadChoice(requested, "as asked")
    if device.type != "cpu":
        return None
    if not encoders_in_loop and trainable_parameters <= SMALL_TRAINABLE:
        return ThreadChoice(1, f"small trainable part ({trainable_parameters:,} parameters) on cached features: "
                               "one thread is faster than splitting tiny matrices")
    cores = torch.get_num_threads()
    busy = busy_elsewhere() if busy is None else busy
    if busy and cores > 1:
        count = max(1, cores - busy)
        return ThreadChoice(count, f"{busy} other runnable thread(s) on {cores} core(s): a thread that waits for a "
                                   f"busy core stalls every op, so {count}")
    return ThreadChoice(cores, f"encoders in the loop or a large head: {cores} thread(s)")


def busy_elsewhere(samples: int = 5, interval: float = 0.01, source: str = "/proc/loadavg") -> int:
    """Threads of other processes ready to run now (Linux /proc/loadavg; 0 where unknown).

    torch's threads wait for each other at the end of every op: one that shares its core with another busy
    process makes every op as slow as its share of that core (measured: a fine-tuned epoch 6-9x slower on 2 threads
    than on 1 with one core busy). The median of a few samples of the kernel's runnable count, less this thread.
    """
    counts = []
    for index in range(samples):
        try:
            with open(source, encoding="ascii") as handle:
                runnable = int(handle.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0
        counts.append(max(0, runnable - 1))
        if index + 1 < samples:
            time.sleep(interval)
    return sorted(counts)[len(counts) // 2]


@contextlib.contextmanager
def intra_op_threads(count: int | None) -> Iterator[None]:
    """torch's intra-op threads set to ``count`` inside the block and restored after it (None: unchanged)."""
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
