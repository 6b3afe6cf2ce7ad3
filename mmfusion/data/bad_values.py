"""``data.on_bad_value``: per input, unusable values become absent (counted) or one error naming them all.

A modality decides what is unusable (it raises :class:`BadValueError` from ``parse`` or ``load``); this
module decides what happens then, the same way for every modality, and words the way out from the
policy itself, never from what a modality's message happens to say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import DataError, did_you_mean
from ..interfaces.modality import BadValueError, CellContext, Modality

if TYPE_CHECKING:
    from ..spec.data_spec import DataSpec
    from .parsing import ParsedTable

_MAX_REPORTED = 10


@dataclass(frozen=True)
class BadValue:
    """One unusable value: whose it is (the input), where it is (file, row, columns) and what is wrong."""

    input: str
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


class UnusableValuesError(DataError):
    """Unusable values of inputs whose policy is ``error``; ``values`` holds each one (input, where, problem)."""

    def __init__(self, values: Sequence[BadValue], source: str) -> None:
        self.values = list(values)
        inputs = sorted({v.input for v in self.values})
        more = f"\n  ... and {len(values) - _MAX_REPORTED} more" if len(values) > _MAX_REPORTED else ""
        absent = ", ".join(f"{name}: absent" for name in inputs)
        super().__init__(
            f"{len(values)} unusable value(s) in {source}:\n  " + "\n  ".join(map(str, values[:_MAX_REPORTED]))
            + more + f"\n  (to treat them as absent for their rows instead: data.on_bad_value: {{{absent}}} in the "
            "spec, or `mmfusion evaluate --on-bad-value absent`)")


def bad_value_policies(data: DataSpec, inputs: Sequence[str]) -> dict[str, str]:
    """Each input's policy, ``error`` or ``absent``.

    Args:
        data: the data section (its ``on_bad_value``).
        inputs: the model's inputs (encoder keys).

    Raises:
        DataError: ``on_bad_value`` names an input the model does not have.
    """
    given = data.on_bad_value
    if isinstance(given, str):
        policies = {name: given for name in inputs}
    else:
        for stray in sorted(set(given) - set(inputs)):
            raise DataError(f"data.on_bad_value names '{stray}'{did_you_mean(stray, inputs)}, but the model's "
                            f"inputs are {', '.join(inputs)} (model.encoders)")
        policies = {name: given.get(name, "error") for name in inputs}
    return policies


def problem_of(exc: BadValueError, raised_at: CellContext) -> str:
    """What is wrong, without where (modalities written before ``context`` existed put it in the message)."""
    prefix = f"{raised_at.where()}: "
    return exc.problem[len(prefix):] if exc.problem.startswith(prefix) else exc.problem


class BadValues:
    """Values found unusable after parsing (when loaded): absent and counted, or an error naming their rows."""

    def __init__(self, tables: Mapping[str, ParsedTable], modalities: Mapping[str, Modality],
                 columns: Mapping[str, list[str]], policies: Mapping[str, str], row_kind: str) -> None:
        self.tables, self.modalities, self.columns = tables, modalities, columns
        self.policies, self.row_kind = policies, row_kind

    def __call__(self, name: str, unusable: Mapping[str, str]) -> None:
        """Mark the rows whose value of input ``name`` has a fingerprint in ``unusable`` (→ its problem).

        Raises:
            UnusableValuesError: such rows exist and the input's policy is ``error``.
        """
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
