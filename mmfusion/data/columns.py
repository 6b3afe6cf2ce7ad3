"""Which table columns feed which modality, checked against the tables and the model's encoders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..errors import DataError, did_you_mean
from ..interfaces.encoder import Encoder
from ..interfaces.modality import Modality


def resolve_columns(
    encoders: Mapping[str, Encoder],
    modalities: Mapping[str, Modality],
    spec_columns: Mapping[str, str | list[str]],
    source_columns: Mapping[str, str | list[str]],
    available: Iterable[str],
    where: str,
) -> dict[str, list[str]]:
    """Modality → its column names: from ``data.columns``, else the dataset source's defaults, else a column named
    like the modality.

    Raises:
        DataError: a modality has no column, a named column is not in the table, or a column is
            given for a modality the model has no encoder for.
    """
    available = [str(c) for c in available]
    stray = sorted(set(spec_columns) - set(encoders))
    if stray:
        raise DataError(f"data.columns names {', '.join(stray)}, but the model has encoders only for "
                        f"{', '.join(encoders)} (model.encoders)")
    resolved: dict[str, list[str]] = {}
    for name in encoders:
        given = spec_columns.get(name) or source_columns.get(name) or (name if name in available else None)
        if given is None:
            raise DataError(
                f"no column for modality '{name}': set data.columns.{name} to one of the columns of {where}: "
                f"{', '.join(available)}")
        columns = [given] if isinstance(given, str) else list(given)
        for column in columns:
            if column not in available:
                raise DataError(f"data.columns.{name}: column '{column}' is not in {where}"
                                f"{did_you_mean(column, available)}; columns are {', '.join(available)}")
        if len(columns) > 1 and not modalities[name].multiple_columns:
            raise DataError(f"data.columns.{name}: a '{modalities[name].name}' input reads one column, "
                            f"got {len(columns)}")
        resolved[name] = columns
    return resolved
