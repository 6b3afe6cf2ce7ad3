"""Parsing every row once: modality references (paths, texts), presence, labels, bad values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError
from ..interfaces.modality import BadValueError, CellContext, Modality
from .labels import LabelSet
from .tables import ROW_COLUMN

if TYPE_CHECKING:
    import pandas as pd

_MAX_REPORTED = 10


@dataclass
class ParsedTable:
    """One table, parsed: per modality a reference (or None = absent) per row, and label ids.

    Attributes:
        split: train / validation / test (or a name for ad-hoc data).
        source: where the rows come from, for messages.
        references: modality → one reference per row, None where the modality is absent.
        labels: label ids, or None for unlabelled data (prediction).
        rows: user-facing row numbers.
        bad: modality → messages for rows whose unusable value was treated as absent.
    """

    split: str
    source: str
    references: dict[str, list[Any]]
    labels: np.ndarray | None
    rows: list[int]
    bad: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    def present(self, modality: str) -> np.ndarray:
        return np.array([ref is not None for ref in self.references[modality]], dtype=bool)

    def counts(self) -> dict[str, int]:
        """Rows with each modality present."""
        return {m: int(self.present(m).sum()) for m in self.references}


def unusable_error(errors: Sequence[str], source: str) -> DataError:
    """One error for all of a table's unusable values (the first ten shown), with the way to go on without them."""
    more = f"\n  ... and {len(errors) - _MAX_REPORTED} more" if len(errors) > _MAX_REPORTED else ""
    hint = ("\n  (to treat unusable images as absent instead: data.on_bad_image: absent in the spec, or "
            "`mmfusion evaluate --on-bad-image absent`)"
            if any("image file" in e for e in errors) else "")
    return DataError(f"{len(errors)} unusable value(s) in {source}:\n  " + "\n  ".join(errors[:_MAX_REPORTED])
                     + more + hint)


class BadValues:
    """Values found unusable after parsing (when loaded): absent and counted, or an error naming their rows."""

    def __init__(self, tables: Mapping[str, ParsedTable], modalities: Mapping[str, Modality],
                 columns: Mapping[str, list[str]], on_bad_image: str, row_kind: str) -> None:
        self.tables, self.modalities, self.columns = tables, modalities, columns
        self.on_bad_image, self.row_kind = on_bad_image, row_kind

    def __call__(self, modality: str, unusable: Mapping[str, str]) -> None:
        """Mark the rows whose value of ``modality`` has a fingerprint in ``unusable``.

        Raises:
            DataError: such rows exist and the modality is not an image with ``on_bad_image: absent``.
        """
        if not unusable:
            return
        handler = self.modalities[modality]
        absent = handler.name == "image" and self.on_bad_image == "absent"
        errors, sources = [], []
        for table in self.tables.values():
            references = table.references[modality]
            for i, ref in enumerate(references):
                problem = None if ref is None else unusable.get(handler.fingerprint(ref))
                if problem is None:
                    continue
                where = CellContext(table.source, table.rows[i], tuple(self.columns[modality]),
                                    row_kind=self.row_kind).where()
                if absent:
                    references[i] = None
                    table.bad.setdefault(modality, []).append(f"{where}: {problem}")
                else:
                    errors.append(f"{where}: {problem}")
                    sources += [] if table.source in sources else [table.source]
        if errors:
            raise unusable_error(errors, ", ".join(sources))


def parse_table(
    table: pd.DataFrame,
    *,
    split: str,
    source: str,
    modalities: Mapping[str, Modality],
    columns: Mapping[str, list[str]],
    root: Path | None,
    on_bad_image: str = "error",
    labels: LabelSet | None = None,
    label_column: str | None = None,
    row_kind: str = "row",
) -> ParsedTable:
    """Parse all rows of a table.

    Raises:
        DataError: bad values (all of them, up to ten, in one message) or bad labels.
    """
    rows = table[ROW_COLUMN].tolist() if ROW_COLUMN in table.columns else list(range(len(table)))
    references: dict[str, list[Any]] = {}
    bad: dict[str, list[str]] = {}
    errors: list[str] = []
    for name, modality in modalities.items():
        cols = columns[name]
        cells_per_row = list(zip(*(table[c].tolist() for c in cols)))
        seen: dict[Any, Any] = {}
        refs: list[Any] = []
        for i, cells in enumerate(cells_per_row):
            context = CellContext(source, rows[i], tuple(cols), root, row_kind)
            try:
                key = cells if all(isinstance(c, (str, int, float, type(None))) for c in cells) else None
                if key is not None and key in seen:
                    outcome = seen[key]
                    if isinstance(outcome, BadValueError):  # same bad file on another row: name that row
                        raise BadValueError(f"{context.where()}: {str(outcome).split(': ', 1)[-1]}")
                    refs.append(outcome)
                    continue
                ref = modality.parse(cells, context)
                if key is not None:
                    seen[key] = ref
                refs.append(ref)
            except BadValueError as exc:
                if key is not None and key not in seen:
                    seen[key] = exc
                if modality.name == "image" and on_bad_image == "absent":
                    bad.setdefault(name, []).append(str(exc))
                    refs.append(None)
                else:
                    errors.append(str(exc))
                    refs.append(None)
        references[name] = refs
    if errors:
        raise unusable_error(errors, source)
    ids = None
    if labels is not None and label_column is not None:
        ids = labels.encode(table, label_column, rows, source, row_kind)
    return ParsedTable(split, source, references, ids, rows, bad)
