"""The modality contract: how one sample's value of a kind of input is read from table cells.

A modality turns the cells of its column(s) in one row into a *reference* (cheap, picklable: a
resolved path, a string, a dict of numbers) when the table is loaded, and the reference into the
raw value an encoder preprocesses (a PIL image, a string) when the sample is used. Empty cells
mean the modality is absent for that row; present-but-bad cells raise :class:`BadValueError`, and the
spec's ``data.on_bad_value`` decides, per input, whether such a row's value becomes absent or stops the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..errors import DataError


class BadValueError(DataError):
    """A present cell whose value cannot be used (a missing or unreadable file, an unparsable number).

    Raise it from :meth:`Modality.parse` or :meth:`Modality.load` with the problem alone: the core knows
    the input, file, row and column, names them, and applies ``data.on_bad_value`` (absent and counted,
    or an error with the way to go on). ``problem`` says what is wrong without where (``"image file x.png does
    not exist"``); parsing passes ``context`` (``load`` has none) so that the error reads on its own.
    """

    def __init__(self, problem: str, context: CellContext | None = None) -> None:
        self.problem, self.context = problem, context
        super().__init__(problem if context is None else f"{context.where()}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:  # raised in data-loader workers: keep the structure
        return type(self), (self.problem, self.context)


@dataclass(frozen=True)
class CellContext:
    """Where cells come from: for resolving relative paths and for naming the row in errors."""

    #: the file name (or ``"DataFrame"``) the row comes from
    source: str
    #: the row's number as the user sees it (for CSV files, its line number: header = line 1)
    row: int
    columns: tuple[str, ...]
    #: folder that relative paths are resolved against, or None for the working directory
    root: Path | None = None
    #: what ``row`` counts: "line" for files, "row" for DataFrames, "sample" for a caller's samples
    row_kind: str = "row"

    def where(self) -> str:
        if self.row_kind == "sample":  # a caller's sample (Predictor, --image/--text): inputs, not columns
            return f"{self.source} sample {self.row} ({', '.join(self.columns)})"
        columns = ", ".join(repr(c) for c in self.columns)
        return f"{self.source} {self.row_kind} {self.row} (column {columns})"


def is_empty_cell(cell: Any) -> bool:
    """True for None, NaN and blank strings: the cell holds no value."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return True
    try:  # NaN of any float type and NaT, without importing numpy or pandas
        return bool(cell != cell)
    except (TypeError, ValueError):
        return False


class Modality:
    """Base class of modalities. Subclasses set ``name`` and implement :meth:`parse`."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: whether one input of this modality may be read from several columns (e.g. title + body)
    multiple_columns: ClassVar[bool] = False

    def parse(self, cells: Sequence[Any], context: CellContext) -> Any | None:
        """Return a reference to the row's value, or None when the modality is absent for the row.

        Raises:
            BadValueError: the cells hold a value that cannot be used.
        """
        raise NotImplementedError

    def load(self, reference: Any) -> Any:
        """Turn a reference into the raw value an encoder preprocesses (runs in data-loader workers)."""
        return reference

    def fingerprint(self, reference: Any) -> str:
        """A string identifying the value, for the feature cache (same value → same fingerprint)."""
        return repr(reference)

    def for_encoder(self, encoder: Any) -> Modality:
        """This modality as read for one encoder's input (the default: itself). Override when what counts as a
        usable value depends on the encoder's config (which columns must hold numbers), so that an unusable cell
        raises :class:`BadValueError` from :meth:`parse`, with its row, instead of failing inside the encoder."""
        return self
