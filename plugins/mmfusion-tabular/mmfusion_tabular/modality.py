"""The ``tabular`` modality: several columns of one row, read as a mapping column → cell."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from mmfusion import BadValueError, CellContext, Modality, is_empty_cell


class TabularModality(Modality):
    """A row's cells in the mapped columns; empty cells become None; all empty = the modality is absent.

    Read for a tabular encoder, the columns it lists as ``numeric`` must hold numbers: a cell that does
    not parse (``"12 kg"``) or is infinite is unusable (:class:`BadValueError`), so ``data.on_bad_value``
    decides whether that row's table input is absent or the run stops naming file, row and column.
    """

    name = "tabular"
    description = "numeric and categorical columns; empty cells are missing values"
    multiple_columns = True

    def __init__(self, numeric: Iterable[str] = ()) -> None:
        self.numeric = frozenset(numeric)

    def for_encoder(self, encoder: Any) -> TabularModality:
        return TabularModality(getattr(encoder.config, "numeric", ()))

    def parse(self, cells: Sequence[Any], context: CellContext) -> Any | None:
        values = {column: (None if is_empty_cell(cell) else cell) for column, cell in zip(context.columns, cells)}
        for column in sorted(self.numeric & values.keys()):
            if values[column] is not None:
                values[column] = _number(values[column], column, context)
        return None if all(v is None for v in values.values()) else values

    def fingerprint(self, reference: Any) -> str:
        return json.dumps(reference, sort_keys=True, default=str)


def _number(cell: Any, column: str, context: CellContext) -> float | None:
    """A numeric cell as a float (NaN spelled out is a missing value, like an empty cell)."""
    try:
        number = float(str(cell).strip())
    except ValueError:
        raise BadValueError(f"numeric column '{column}' holds {cell!r}, not a number (list the column under "
                            "`categorical:` if it holds categories)", context) from None
    if math.isinf(number):
        raise BadValueError(f"numeric column '{column}' holds {cell!r}, not a finite number", context)
    return None if math.isnan(number) else number
