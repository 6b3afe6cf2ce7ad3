"""Exceptions a user can act on.

Every error raised for bad input derives from :class:`MMFusionError`; the CLI prints its message
(no traceback) and exits with a non-zero status. Messages say what was asked, what exists and
what to do.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MMFusionError(Exception):
    """Base class of all user-facing mmfusion errors."""


class PluginError(MMFusionError):
    """A plugin or component could not be found, loaded or used."""


class UnknownComponentError(PluginError):
    """A spec asked for a component name that no loaded plugin provides."""


class AmbiguousComponentError(PluginError):
    """Two plugins provide the same component name; a qualified `dist:name` is required."""


class SpecError(MMFusionError):
    """A spec file or mapping is invalid. The message lists every problem with its YAML path."""


class WeightsError(MMFusionError):
    """Weights were asked for that cannot be found or loaded offline."""


class DataError(MMFusionError):
    """A data file, row, image or label is invalid."""


class OutputError(MMFusionError):
    """A file or folder could not be written (full disk, read-only folder, a file in the way)."""


def did_you_mean(asked: str, choices: Iterable[str]) -> str:
    """Return ``" — did you mean 'x'?"`` for the closest choice, or an empty string."""
    matches = difflib.get_close_matches(asked, list(choices), n=1, cutoff=0.6)
    return f" — did you mean '{matches[0]}'?" if matches else ""
