"""Console helpers shared by the commands (rich is imported lazily: it is only needed for output)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
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


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]], *, left: int | None = None) -> Any:
    """A rich table whose first ``left`` columns (default: all) are left-aligned, the rest (numbers) right-aligned."""
    from rich.table import Table

    out = Table(title=title)
    for i, column in enumerate(columns):
        out.add_column(column, justify="left" if left is None or i < left else "right")
    for row in rows:
        out.add_row(*row)
    return out
