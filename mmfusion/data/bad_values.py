"""``data.on_bad_value``: per input, unusable values become absent (counted) or one error naming them all.

A modality decides what is unusable (it raises :class:`BadValueError` from ``parse`` or ``load``); this
module gives each input's policy, which :mod:`.parsing` applies the same way for every modality, and the
error that words the way out from the policy itself, never from what a modality's message happens to say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import DataError, did_you_mean

if TYPE_CHECKING:
    from ..spec.data_spec import DataSpec

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
    """Each of the model's ``inputs``' policy, ``error`` or ``absent``, from ``data.on_bad_value``.

    Raises:
        DataError: ``on_bad_value`` names an input the model does not have.
    """
    given = data.on_bad_value
    if isinstance(given, str):
        return {name: given for name in inputs}
    for stray in sorted(set(given) - set(inputs)):
        raise DataError(f"data.on_bad_value names '{stray}'{did_you_mean(stray, inputs)}, but the model's "
                        f"inputs are {', '.join(inputs)} (model.encoders)")
    return {name: given.get(name, "error") for name in inputs}
