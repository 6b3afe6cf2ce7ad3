"""Why a component could not be built, in the spec's words: its YAML path, its type and the sizes to check.

An absurd size in a spec (``dim: 100000000``) otherwise surfaces as an allocator error from deep inside torch,
or as minutes of paging while gigabytes are filled with initial weights before the next layer fails.
When a config holds a large number, the component is first built on torch's ``meta`` device (shapes only, no
memory, no random numbers drawn) and refused at once if training it could not fit in the free memory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

LARGE = 10_000
"""A setting at least this big (or negative) is named as a size to check, and triggers the memory estimate."""

TRAINING_FACTOR = 4
"""Training holds each parameter about four times: the weights, their gradients and two optimiser moments."""

_ALLOCATION = re.compile(r"can't allocate memory|out of memory|cannot allocate|failed to allocate", re.IGNORECASE)
_ASKED = re.compile(r"allocate (\d+) bytes")


def size_settings(config: BaseModel | Mapping[str, Any]) -> list[str]:
    """``["dim: 100000000", "inner.hidden_dims: [100000000]"]``: the config's large or negative numbers."""
    found: list[tuple[int, str]] = []

    def suspicious(value: Any) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool) and (value >= LARGE or value < 0):
            return abs(value)
        return None

    def walk(values: Mapping[str, Any], prefix: str) -> None:
        for key, value in values.items():
            if isinstance(value, Mapping):
                walk(value, f"{prefix}{key}.")
            elif isinstance(value, list | tuple):
                sizes = [s for s in map(suspicious, value) if s is not None]
                if sizes:
                    found.append((max(sizes), f"{prefix}{key}: {list(value)}"))
            elif (size := suspicious(value)) is not None:
                found.append((size, f"{prefix}{key}: {value}"))

    walk(config.model_dump() if isinstance(config, BaseModel) else config, "")
    return [text for _, text in sorted(found, key=lambda item: -item[0])][:4]


def human_bytes(count: float) -> str:
    """``12800000000`` → ``12.8 GB``."""
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if count < 1000:
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:,.0f} PB"


def free_memory() -> int | None:
    """Bytes available to new allocations (Linux: MemAvailable), else the machine's total; None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def parameter_bytes(factory: Callable[..., Any], args: tuple[Any, ...]) -> int | None:
    """Bytes the component's parameters and buffers would take, from a build on the meta device; None if that
    build fails (the real build then reports the reason)."""
    import torch

    try:
        with torch.device("meta"):
            module = factory(*args)
        tensors = list(module.parameters()) + list(module.buffers())
        return sum(t.numel() * t.element_size() for t in tensors)
    except Exception:  # a component that cannot be built on meta: no estimate, the real build decides
        return None


def memory_problem(config: BaseModel, factory: Callable[..., Any], args: tuple[Any, ...]) -> str | None:
    """Why the component will not fit in memory, when its config has large numbers and training it could not."""
    sizes = size_settings(config)
    if not sizes:
        return None
    needed, free = parameter_bytes(factory, args), free_memory()
    if needed is None or free is None or needed * TRAINING_FACTOR <= free:
        return None
    return (f"cannot build it with these settings: its parameters would take {human_bytes(needed)} (about "
            f"{human_bytes(needed * TRAINING_FACTOR)} to train, with gradients and optimiser state) and "
            f"{human_bytes(free)} of memory is free; check sizes such as {', '.join(sizes)}")


def _brief(exc: BaseException) -> str:
    """The exception's message without torch's C++ stack: its first few lines, joined."""
    text = str(exc).split("Exception raised from")[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    brief = " ".join(lines[:3])
    return brief if len(brief) <= 300 else brief[:297] + "..."


def failure_message(exc: BaseException, config: BaseModel | Mapping[str, Any]) -> str:
    """What went wrong while building a component, pointing at its large settings when memory ran out."""
    sizes = size_settings(config)
    hint = f"; check sizes such as {', '.join(sizes)}" if sizes else ""
    text = _brief(exc)
    if isinstance(exc, MemoryError) or _ALLOCATION.search(text):
        asked = _ASKED.search(text)
        amount = f" ({human_bytes(int(asked.group(1)))} asked for at once)" if asked else ""
        return f"cannot build it with these settings: could not allocate memory{amount}{hint or '; check its sizes'}"
    if hint:
        return f"cannot build it with these settings: {type(exc).__name__}: {text}{hint}"
    return f"building it failed: {type(exc).__name__}: {text}"
