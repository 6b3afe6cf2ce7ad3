"""Console helpers shared by the commands (rich is imported lazily: it is only needed for output)."""

from __future__ import annotations

import json
from typing import Any


def console(stderr: bool = False):  # type: ignore[no-untyped-def]
    from ..progress import make_console

    return make_console(stderr)


def print_json(data: Any) -> None:
    """Plain JSON on stdout, for machines (no colours, no wrapping)."""
    print(json.dumps(data, indent=2, default=str))


def human_count(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)
