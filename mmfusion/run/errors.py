"""The one error of the run package (its message names the file and says what to do), and why one file could not
be read."""

from __future__ import annotations

import warnings
from pathlib import Path

from ..errors import MMFusionError

RESTORE = "restore it from a copy of the run, or retrain"


class RunDirError(MMFusionError):
    """A run directory cannot be used: one of its files is missing, damaged or does not fit the others (or this
    machine), its checkpoint cannot be resumed, or another training is writing into it."""


class UnreadableFile(Exception):
    """One file could not be read or parsed; the caller turns it into the error its context needs (or falls back).
    ``str()`` is the ``reason``, worded to follow the file's name: ``f"{path} {exc}"``."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(reason)
        self.path, self.reason = path, reason


def warn_caller(message: str) -> None:
    """A warning attributed to the code that called into the run package (the default ``warn`` of its loaders)."""
    warnings.warn(message, stacklevel=3)
