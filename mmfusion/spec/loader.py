"""Reading specs from YAML (or mappings) with errors that name the file, line and YAML path."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import SpecError
from ..registry import Registry, get_registry
from .spec import Spec
from .yaml_file import Loc, dotted, located, read_yaml

#: pydantic's messages that read better in a spec's terms
_MESSAGES = {"missing": "required but missing", "extra_forbidden": "unknown key"}


def format_errors(exc: ValidationError, source: str, lines: Mapping[Loc, int]) -> str:
    """One line (plus indented detail) per problem: ``file:line: yaml.path: what is wrong``."""
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        where = located(source, lines, loc)
        message = _MESSAGES.get(err["type"]) or str(err["msg"]).removeprefix("Value error, ")
        out.append(f"{where}: {dotted(loc)}: {message}")
    return "\n".join(out)


def load_spec(source: str | Path | Mapping[str, Any], *, registry: Registry | None = None,
              base_dir: str | Path | None = None) -> Spec:
    """Read and validate a spec: a YAML file or a parsed mapping, whose relative paths resolve against ``base_dir``
    (default: the file's folder), its components against ``registry`` (default: built-ins and installed plugins).

    Raises:
        SpecError: the file is missing or invalid; the message lists every problem.
    """
    if isinstance(source, Mapping):
        data, lines, name = dict(source), {}, "spec"
    else:
        path = Path(source)
        name = str(path)
        data, lines = read_yaml(path, "spec", "a mapping with a `model:` section")
        base_dir = path.resolve().parent if base_dir is None else base_dir
    return validate_spec(data, source_name=name, lines=lines, registry=registry, base_dir=base_dir)


def validate_spec(data: Any, *, source_name: str = "spec", lines: Mapping[Loc, int] | None = None,
                  registry: Registry | None = None, base_dir: str | Path | None = None) -> Spec:
    """Validate parsed spec data (see :func:`load_spec`)."""
    if not isinstance(data, Mapping):
        raise SpecError(f"{source_name}: a spec is a mapping with a `model:` section, got {describe(data)}")
    context = {"registry": registry or get_registry(), "base_dir": base_dir}
    try:
        spec = Spec.model_validate(data, context=context)
    except ValidationError as exc:
        raise SpecError(format_errors(exc, source_name, lines or {})) from None
    if lines:  # later checks (of the task found in the data) name the file and line
        spec._origin = (source_name, dict(lines))
    return spec


def describe(data: Any) -> str:
    """What a YAML value is, for a message: ``a list``, ``the text 'hello'``."""
    if data is None:
        return "nothing (null)"
    if isinstance(data, list):
        return "a list"
    if isinstance(data, str):
        return f"the text {data[:40]!r}"
    return f"{type(data).__name__} {data!r}"[:60]


def spec_to_yaml(spec: Spec) -> str:
    """Serialise a spec back to YAML (round-trips through :func:`load_spec`)."""
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)


def load_settings_file(path: str | Path, model: type[Any], kind: str, shape: str) -> Any:
    """Read a YAML settings file (a sweep, a tune file) into the pydantic ``model``; relative paths resolve
    against the file's folder. ``kind`` names the file and ``shape`` what it holds, in messages.

    Raises:
        SpecError: the file is missing or invalid (file, line and YAML path named).
    """
    path = Path(path)
    data, lines = read_yaml(path, kind, shape)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a {kind} file is {shape}, got {describe(data)}")
    try:
        return model.model_validate(data, context={"base_dir": path.resolve().parent})
    except ValidationError as exc:
        raise SpecError(format_errors(exc, str(path), lines)) from None
