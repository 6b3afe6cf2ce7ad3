"""Parsing every row once: modality references (paths, texts), presence, labels, bad values (when parsed and when
loaded)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..interfaces.modality import BadValueError, CellContext, Modality
from .bad_values import BadValue, UnusableValuesError
from .cells import ROW_COLUMN
from .labels import LabelSet

if TYPE_CHECKING:
    import pandas as pd


#: a cell not parsed yet (or one that cannot be looked up: not a plain value)
_UNSEEN = object()


@dataclass
class ParsedTable:
    """One table, parsed: per modality a reference per row (None: absent), the label targets (None: unlabelled),
    the user-facing row numbers, and per modality the messages of values treated as absent (``bad``)."""

    split: str
    source: str
    references: dict[str, list[Any]]
    labels: np.ndarray | None
    rows: list[int]
    bad: dict[str, list[str]] = field(default_factory=dict)
    #: modality → which rows have it, for modalities whose references were released (:meth:`release`)
    presence: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    def present(self, modality: str) -> np.ndarray:
        if modality in self.presence:
            return self.presence[modality]
        return np.array([ref is not None for ref in self.references[modality]], dtype=bool)

    def counts(self) -> dict[str, int]:
        """Rows with each modality present."""
        return {m: int(self.present(m).sum()) for m in [*self.references, *self.presence]}

    def release(self, modality: str) -> None:
        """Forget each row's reference of ``modality``, keeping whether it is present: an input read from the
        feature cache needs only its store indices, and a million paths or texts held per row are memory."""
        self.presence[modality] = self.present(modality)
        del self.references[modality]


def parse_table(
    table: pd.DataFrame,
    *,
    split: str,
    source: str,
    modalities: Mapping[str, Modality],
    columns: Mapping[str, list[str]],
    root: Path | None,
    on_bad_value: str | Mapping[str, str] = "error",
    labels: LabelSet | None = None,
    label_column: str | None = None,
    row_kind: str = "row",
) -> ParsedTable:
    """Parse all rows of a table; ``on_bad_value`` (``error`` or ``absent``, for every input or per input, ``error``
    for those left out) says what becomes of values a modality refuses (:class:`BadValueError`).

    Raises:
        UnusableValuesError: unusable values of inputs whose policy is ``error`` (all of them, up to ten
            shown, in one message).
        DataError: bad labels.
    """
    rows = table[ROW_COLUMN].tolist() if ROW_COLUMN in table.columns else list(range(len(table)))
    references: dict[str, list[Any]] = {}
    bad: dict[str, list[str]] = {}
    errors: list[BadValue] = []
    for name, modality in modalities.items():
        absent = (on_bad_value if isinstance(on_bad_value, str) else on_bad_value.get(name, "error")) == "absent"
        cols = tuple(columns[name])
        # each distinct cell is parsed once (checking an image file is slow); a repeat reuses the reference (one
        # object for every row that names the same file) and a failure keeps where it was first read
        seen: dict[Any, Any] = {}
        refs: list[Any] = []
        for i, cells in enumerate(zip(*(table[c].tolist() for c in cols))):
            key = (cells[0] if len(cells) == 1 else cells) \
                if all(isinstance(c, (str, int, float, type(None))) for c in cells) else _UNSEEN
            outcome = seen.get(key, _UNSEEN)  # _UNSEEN itself is never a key
            if outcome is _UNSEEN:
                context = CellContext(source, rows[i], cols, root, row_kind)
                try:
                    outcome = modality.parse(cells, context)
                except BadValueError as exc:  # kept for repeats of the cell
                    outcome = exc
                if key is not _UNSEEN:
                    seen[key] = outcome
            if not isinstance(outcome, BadValueError):
                refs.append(outcome)
                continue
            refs.append(None)
            where = CellContext(source, rows[i], cols, root, row_kind).where()
            value = BadValue(name, where, outcome.problem)  # this row, even for a repeat
            if absent:
                bad.setdefault(name, []).append(str(value))
            else:
                errors.append(value)
        references[name] = refs
    if errors:
        raise UnusableValuesError(errors, source)
    ids = None
    if labels is not None and label_column is not None:
        ids = labels.encode(table, label_column, rows, source, row_kind)
    return ParsedTable(split, source, references, ids, rows, bad)


class BadValues:
    """Values found unusable after parsing (when loaded): absent and counted, or an error naming their rows."""

    def __init__(self, tables: Mapping[str, ParsedTable], modalities: Mapping[str, Modality],
                 columns: Mapping[str, list[str]], policies: Mapping[str, str], row_kind: str) -> None:
        self.tables, self.modalities, self.columns = tables, modalities, columns
        self.policies, self.row_kind = policies, row_kind

    def __call__(self, name: str, unusable: Mapping[str, str]) -> None:
        """Mark the rows whose value of input ``name`` has a fingerprint in ``unusable`` (→ its problem) absent, or
        raise UnusableValuesError naming them when the input's policy is ``error``."""
        if not unusable:
            return
        handler = self.modalities[name]
        absent = self.policies.get(name, "error") == "absent"
        errors, sources = [], []
        for table in self.tables.values():
            references = table.references[name]
            for i, ref in enumerate(references):
                problem = None if ref is None else unusable.get(handler.fingerprint(ref))
                if problem is None:
                    continue
                where = CellContext(table.source, table.rows[i], tuple(self.columns[name]),
                                    row_kind=self.row_kind).where()
                bad = BadValue(name, where, problem)
                if absent:
                    references[i] = None
                    table.bad.setdefault(name, []).append(str(bad))
                else:
                    errors.append(bad)
                    sources += [] if table.source in sources else [table.source]
        if errors:
            raise UnusableValuesError(errors, ", ".join(sources))
