"""The ``tabular`` modality: several columns of one row, read as a mapping column → cell."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mmfusion import CellContext, Modality, is_empty_cell


class TabularModality(Modality):
    """A row's cells in the mapped columns; empty cells become None; all empty = the modality is absent."""

    name = "tabular"
    description = "numeric and categorical columns; empty cells are missing values"
    multiple_columns = True

    def parse(self, cells: Sequence[Any], context: CellContext) -> Any | None:
        values = {column: (None if is_empty_cell(cell) else cell) for column, cell in zip(context.columns, cells)}
        if all(v is None for v in values.values()):
            return None
        return values

    def fingerprint(self, reference: Any) -> str:
        return json.dumps(reference, sort_keys=True, default=str)
