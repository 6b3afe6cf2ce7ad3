"""Getting the train / validation / test tables: from a dataset source or DataFrames, split and limited."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError
from ..interfaces.dataset import DatasetTables
from ..registry import Registry, get_registry
from ..spec.data_spec import DataSpec
from .cells import ROW_COLUMN, format_rows, label_text, user_columns
from .files import row_numbering
from .label_lists import column_labels, holds_lists, infer_task
from .labels import unlabelled_rows

if TYPE_CHECKING:
    import pandas as pd

SPLITS = ("train", "validation", "test")


@dataclass
class PreparedTables:
    """The tables a run uses, each with a ``__mmfusion_row__`` column of user-facing row numbers."""

    tables: dict[str, pd.DataFrame]
    names: dict[str, str]
    root: Path | None = None
    columns: dict[str, str | list[str]] = field(default_factory=dict)
    label_column: str | None = None
    labels: list[str] | None = None
    row_kind: str = "row"
    notes: list[str] = field(default_factory=list)
    #: multiclass, multilabel or binary: data.task, or what the label column implies
    task: str = "multiclass"
    #: how the task was found, for messages
    task_reason: str = ""


def source_tables(data: DataSpec, registry: Registry | None = None) -> DatasetTables:
    """Load the tables of the spec's dataset source."""
    registry = registry or get_registry()
    if data.source is None:
        raise DataError("data.source is missing: name a dataset source (e.g. {type: csv, train: data.csv}) or "
                        "pass DataFrames to mmfusion.fit(train=..., validation=..., test=...)")
    source_cls = registry.get("dataset", data.source.component_name)
    return source_cls(data.source).load()


def as_dataset_tables(train: Any, validation: Any = None, test: Any = None, *, root: str | Path | None = None
                      ) -> DatasetTables:
    """Wrap DataFrames given through the Python API (relative image paths resolve against ``root``)."""
    import pandas as pd

    for name, table in (("train", train), ("validation", validation), ("test", test)):
        if table is not None and not isinstance(table, pd.DataFrame):
            raise DataError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
    return DatasetTables(train=train, validation=validation, test=test, root=Path(root) if root else None,
                         names={split: f"{split} DataFrame" for split in SPLITS})


def _numbered(table: pd.DataFrame, first_row: int) -> pd.DataFrame:
    table = table.reset_index(drop=True).copy()
    table[ROW_COLUMN] = range(first_row, first_row + len(table))
    return table


def _split_off(table: pd.DataFrame, fraction: float, seed: int, label_column: str | None,
               group_column: str | None, notes: list[str], what: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``fraction`` of the rows off, stratified by label (or grouped, keeping groups together)."""
    import pandas as pd
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    if group_column and group_column in table.columns:
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        keep, held = next(splitter.split(table, groups=table[group_column]))
        return table.iloc[keep], table.iloc[held]
    if not label_column or label_column not in table.columns:
        keep_rows, held_rows = train_test_split(table, test_size=fraction, random_state=seed)
        return keep_rows, held_rows
    labels = table[label_column].map(label_text)  # 1 and 1.0 are one class, as they are to the label set
    single = labels.map(labels.value_counts()) < 2
    rest, rest_labels = table[~single], labels[~single]
    test_size: float | int = fraction
    if single.any():  # a label seen once stays in training, where the model can learn it
        notes.append(f"{what} split: {int(single.sum())} row(s) whose label occurs once stay in training")
        test_size = max(1, min(int(round(len(table) * fraction)), len(rest) - 1))
    held = int(round(len(rest) * fraction)) if isinstance(test_size, float) else test_size
    kinds = rest_labels.nunique()
    stratify = rest_labels if held >= kinds and len(rest) - held >= kinds else None
    if stratify is None:
        notes.append(f"{what} split is not stratified: too few rows for one of each label on both sides")
    keep_rows, held_rows = train_test_split(rest, test_size=test_size, random_state=seed, stratify=stratify)
    if single.any():
        keep_rows = pd.concat([keep_rows, table[single]])
    return keep_rows, held_rows


def prepare_tables(data: DataSpec, tables: DatasetTables) -> PreparedTables:
    """Number rows, split validation/test off train where needed, and apply row limits."""
    if tables.train is None or len(tables.train) == 0:
        raise DataError("the training table is empty")
    notes: list[str] = []
    label_column = data.label or tables.label_column or "label"
    names = {s: tables.names.get(s, f"{s} table") for s in SPLITS}
    prepared = {}
    for split in SPLITS:  # unlabelled rows go before splitting: a held-out part must not be cut from them
        if (table := getattr(tables, split)) is not None:
            prepared[split] = without_unlabelled(_numbered(table, tables.first_row), label_column, names[split],
                                                 tables.row_kind, data.unlabelled, notes, split)
    original = len(prepared["train"])
    task, task_reason = infer_task(data, prepared["train"], label_column)
    # the source's label order belongs to its label column; another column's are the whole training table's, so
    # that a label whose rows all go to a split (or are cut by a row limit) is still a class. None: the label set
    # finds them, and says what is wrong
    labels = tables.labels if tables.label_column in (None, label_column) else None
    train = prepared["train"]
    if not labels and label_column in train.columns and (task == "multilabel" or not holds_lists(train, label_column)):
        labels = column_labels(train, label_column, task, data.label_sep)
        labels = labels if len(labels) >= 2 else None
    # multilabel rows have no one class to stratify by: their splits are random
    stratify_by = label_column if task != "multilabel" else None
    for split, fraction in (("test", data.split.test), ("validation", data.split.validation)):
        if split not in prepared and fraction > 0:
            share = fraction * original / len(prepared["train"])  # fractions are of the original table
            prepared["train"], prepared[split] = _split_off(
                prepared["train"], share, data.split.seed, stratify_by, tables.group_column, notes, split)
            names[split] = f"{names['train']} ({split} split)"
    for split in SPLITS:
        limit = getattr(data.limit, split)
        if split in prepared and limit is not None and len(prepared[split]) > limit:
            prepared[split] = prepared[split].sample(n=limit, random_state=data.split.seed).sort_values(ROW_COLUMN)
            notes.append(f"{split}: using {limit} of its rows (data.limit.{split})")
    return PreparedTables(
        tables={k: v.reset_index(drop=True) for k, v in prepared.items()}, names=names, root=tables.root,
        columns=dict(tables.columns), label_column=label_column, labels=labels, row_kind=tables.row_kind,
        notes=notes, task=task, task_reason=task_reason,
    )


def without_unlabelled(table: pd.DataFrame, column: str, name: str, row_kind: str, mode: str, notes: list[str],
                        split: str) -> pd.DataFrame:
    """Rows with an empty label: an error naming them (``error``) or left out and counted in ``notes`` (``drop``).

    Raises:
        DataError: empty labels with ``mode="error"``, or a label column with no label at all.
    """
    if column not in table.columns:
        return table  # no labels at all: the label set (train) or the test report (test) says so
    empty = unlabelled_rows(table, column)
    if not empty.any():
        return table
    rows = table.loc[empty, ROW_COLUMN].tolist()
    if empty.all():
        raise DataError(f"{name}: column '{column}' holds no labels: all {len(table)} {row_kind}s are empty. Is "
                        f"data.label the right column? Columns: {', '.join(user_columns(table))}")
    if mode != "drop":
        raise DataError(f"{name}: {len(rows)} {row_kind}(s) have an empty label (column '{column}', {row_kind}s "
                        f"{format_rows(rows)}). Fill them in, or set data.unlabelled: drop to leave such rows out.")
    notes.append(f"{split}: left out {len(rows)} {row_kind}(s) of {name} with an empty label ({row_kind}s "
                 f"{format_rows(rows)}; data.unlabelled: drop)")
    return table[~empty]


def load_prepared_tables(data: DataSpec, tables: DatasetTables | None = None,
                         registry: Registry | None = None) -> PreparedTables:
    """Tables from the given DataFrames (Python API) or the spec's source, prepared for a run."""
    return prepare_tables(data, tables if tables is not None else source_tables(data, registry))


def with_table(prepared: PreparedTables, split: str, table: pd.DataFrame, path: Path | None = None,
               root: Path | None = None) -> PreparedTables:
    """A copy of ``prepared`` with one table replaced (e.g. evaluation data given on the command line): the
    DataFrame ``table``, read from the file ``path`` when given, whose rows messages number as that file's.

    Relative paths in it resolve against ``root`` (default: the file's folder)."""
    first_row, row_kind = row_numbering(path if path is not None else table)
    tables = {**prepared.tables, split: _numbered(table, first_row)}
    return replace(prepared, tables=tables, names={**prepared.names, split: path.name if path else "DataFrame"},
                   row_kind=row_kind, root=root or (path.resolve().parent if path is not None else None))
