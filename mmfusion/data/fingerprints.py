"""Fingerprints of a table's references computed once per distinct reference while a pipeline is built.

An image's fingerprint stats its file; a table of a million rows that name ten thousand pictures would stat each
one a hundred times, in each of the passes that need fingerprints (counting distinct values, the feature cache,
each row's store index). Text fingerprints are the text itself and need no memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..interfaces.modality import Modality


def distinct(modality: Modality | MemoFingerprints, references: Iterable[Any]) -> dict[str, Any]:
    """Fingerprint → the first reference with it, for the present (not None) ``references``, in table order."""
    found: dict[str, Any] = {}
    for ref in references:
        if ref is not None:
            found.setdefault(modality.fingerprint(ref), ref)
    return found


class MemoFingerprints:
    """``modality`` with :meth:`fingerprint` remembered per reference; everything else is the modality's own.

    Only for the span of one build: a file changed meanwhile would keep its old fingerprint.
    """

    def __init__(self, modality: Modality) -> None:
        self.modality = modality
        self._memo: dict[Any, str] = {}

    def fingerprint(self, reference: Any) -> str:
        try:
            return self._memo[reference]
        except KeyError:
            pass
        except TypeError:  # unhashable: computed each time
            return self.modality.fingerprint(reference)
        fingerprint = self.modality.fingerprint(reference)
        if fingerprint is not reference:  # a value that is its own fingerprint (short text) costs nothing to redo
            self._memo[reference] = fingerprint
        return fingerprint

    def __getattr__(self, name: str) -> Any:
        return getattr(self.modality, name)
