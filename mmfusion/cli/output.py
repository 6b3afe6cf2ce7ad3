"""Console helpers shared by the commands (rich is imported lazily: it is only needed for output)."""

from __future__ import annotations

import json
from typing import Any


def console(stderr: bool = False):  # type: ignore[no-untyped-def]
    import shutil

    from rich.console import Console

    # piped output would otherwise be squeezed to 80 columns
    width = max(shutil.get_terminal_size((120, 24)).columns, 100)
    return Console(stderr=stderr, highlight=False, width=width)


def print_json(data: Any) -> None:
    """Plain JSON on stdout, for machines (no colours, no wrapping)."""
    print(json.dumps(data, indent=2, default=str))


def human_count(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)
