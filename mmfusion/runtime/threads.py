"""How many intra-op threads torch uses on the CPU while training, evaluating and predicting.

torch's threads wait for each other at the end of every op, so one thread whose core is busy with another
process stalls every op: on 2 cores with one busy, training ran 3-13x slower on two threads than on one. On an
idle machine more cores pay once a step has enough work to split (``benchmarks/threads.py``, figures in
benchmarks/README.md). ``auto`` therefore uses one thread for tiny steps on cached features and otherwise the
cores that no other process is using; on cached features it looks again at the start of every epoch.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch

from ..errors import MMFusionError

#: Trainable parameters × batch size below which a step on cached features is too little work to split
#: across threads (measured: 0.2M, the tests' runs, 20 % slower on two threads; 72M, easy-VQA's concat head,
#: 1.09x faster on two).
TINY_STEP = 4_000_000

ThreadsSetting = int | Literal["auto"] | None
#: the reason of a count the user set (``train.threads`` or ``--threads``)
ASKED = "as asked"


@dataclass(frozen=True)
class ThreadChoice:
    """``count`` intra-op threads, and why; ``cores``: the threads torch would use by itself; ``adaptive``:
    re-chosen at the start of every epoch (:meth:`for_epoch`)."""

    count: int
    reason: str
    cores: int = 1
    adaptive: bool = False

    def for_epoch(self, busy: int | None = None) -> ThreadChoice:
        """The choice for the next epoch: the same unless adaptive, else the cores not busy elsewhere now."""
        if not self.adaptive:
            return self
        return _idle_cores(self.cores, busy_elsewhere() if busy is None else busy, adaptive=True)


def _idle_cores(cores: int, busy: int, *, adaptive: bool) -> ThreadChoice:
    if busy and cores > 1:
        count = max(1, cores - busy)
        return ThreadChoice(count, f"{busy} other runnable thread(s) on {cores} core(s): a thread that waits for a "
                                   f"busy core stalls every op, so {count}", cores, adaptive)
    return ThreadChoice(cores, f"{cores} idle core(s)", cores, adaptive)


def resolve_threads(requested: ThreadsSetting, device: torch.device, *, encoders_in_loop: bool,
                    step_work: int | None = None, compiled: bool = False,
                    busy: int | None = None) -> ThreadChoice | None:
    """The thread count for a run on ``device``; None leaves torch's setting alone (GPUs). Without encoders in the
    loop (every step on cached features) ``auto`` is re-chosen at every epoch's start, unless ``compiled`` (kernels
    keep the thread count they were compiled with). ``step_work``: trainable parameters × batch size."""
    if isinstance(requested, int) and not isinstance(requested, bool):
        if requested < 1:
            raise MMFusionError(f"threads must be at least 1 (got {requested}); use `auto` to let mmfusion choose")
        return ThreadChoice(requested, ASKED, requested)
    if device.type != "cpu":
        return None
    cores = torch.get_num_threads()
    if not encoders_in_loop and step_work is not None and step_work < TINY_STEP:
        return ThreadChoice(1, f"a small step on cached features ({step_work:,} trainable parameters × batch): "
                               "one thread is faster than splitting it", cores)
    return _idle_cores(cores, busy_elsewhere() if busy is None else busy,
                       adaptive=not encoders_in_loop and not compiled)


def busy_elsewhere(samples: int = 5, interval: float = 0.01, source: str = "/proc/loadavg",
                   own: str = "/proc/self/task") -> int:
    """Threads of other processes ready to run now (Linux /proc/loadavg; 0 where unknown): the median of a few
    samples of the kernel's runnable count, less this process's own (torch's workers spin after an op)."""
    counts = []
    for index in range(samples):
        try:
            with open(source, encoding="ascii") as handle:
                runnable = int(handle.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0
        counts.append(max(0, runnable - max(1, _own_runnable(own))))
        if index + 1 < samples:
            time.sleep(interval)
    return sorted(counts)[len(counts) // 2]


def _own_runnable(tasks: str) -> int:
    """This process's threads in state R (``/proc/self/task/*/stat``); 0 where that cannot be read."""
    count = 0
    try:
        names = os.listdir(tasks)
    except OSError:
        return 0
    for name in names:
        try:
            with open(os.path.join(tasks, name, "stat"), encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the thread ended meanwhile
        count += bool(fields) and fields[0] == "R"
    return count


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
