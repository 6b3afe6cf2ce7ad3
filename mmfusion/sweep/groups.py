"""Groups of test rows a sweep reports on: the values of a column (``report.groups``), or whether a row's
value of a column occurs in the training rows (``report.unseen``), e.g. questions never seen in training."""

from __future__ import annotations

from typing import Any

from ..data.cells import ROW_COLUMN, user_columns
from ..data.tables import PreparedTables
from ..errors import SpecError
from .spec import ReportSpec

#: a grouping column splits the test rows into a few groups, not one per row
MAX_VALUES = 20
UNSEEN, SEEN = "unseen", "seen in training"


def check_groups(report: ReportSpec, prepared: PreparedTables, where: str) -> None:
    """Refuse, before anything trains, a group column the tables lack or one with too many values.

    Raises:
        SpecError: naming the sweep file, the key, the column and the columns there are.
    """
    for key, columns, splits in (("groups", report.groups, ("test",)), ("unseen", report.unseen, ("train", "test"))):
        for column, split in ((c, s) for c in columns for s in splits):
            table = prepared.tables[split]
            if column not in table.columns or column == ROW_COLUMN:
                raise SpecError(f"{where}: report.{key}: the {prepared.names.get(split, split)} has no column "
                                f"'{column}' (columns: {', '.join(user_columns(table))})")
    for column in report.groups:
        count = prepared.tables["test"][column].map(_text).nunique()
        if count > MAX_VALUES:
            raise SpecError(f"{where}: report.groups: column '{column}' has {count} distinct values in the test "
                            f"rows; a group column splits them into a few groups (at most {MAX_VALUES}). Add a "
                            "coarser column to the data, or use report.unseen for seen/unseen rows")


def group_values(report: ReportSpec, prepared: PreparedTables) -> dict[str, dict[int, str]]:
    """Group name → test row number → the row's group."""
    test = prepared.tables["test"]
    rows = [int(r) for r in test[ROW_COLUMN]]
    out = {column: dict(zip(rows, test[column].map(_text))) for column in report.groups}
    for column in report.unseen:
        trained = set(prepared.tables["train"][column].map(_text))
        out[f"unseen {column}"] = {row: SEEN if value in trained else UNSEEN
                                   for row, value in zip(rows, test[column].map(_text))}
    return out


def _text(value: Any) -> str:
    """A cell as the report names it (empty cells as ``(empty)``)."""
    from ..interfaces.modality import is_empty_cell

    return "(empty)" if is_empty_cell(value) else str(value)
