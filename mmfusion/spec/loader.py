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

Loc = tuple[Any, ...]


def _line_map(node: yaml.Node, path: Loc = (), lines: dict[Loc, int] | None = None) -> dict[Loc, int]:
    """Map every YAML path (tuple of keys / indexes) to the 1-based line where it starts."""
    lines = {} if lines is None else lines
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[path + (key,)] = key_node.start_mark.line + 1
            _line_map(value_node, path + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_map(item, path + (index,), lines)
    return lines


def parse_yaml(text: str, source: str) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML text, returning the data and a path → line map.

    Raises:
        SpecError: the text is not valid YAML (the message gives the line).
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{where}: not valid YAML: {problem}") from None
    return data, (_line_map(node) if node is not None else {})


def dotted(loc: Loc) -> str:
    """``('model', 'encoders', 'image', 'type')`` → ``model.encoders.image.type``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _message(err: Mapping[str, Any]) -> str:
    if err["type"] == "missing":
        return "required but missing"
    if err["type"] == "extra_forbidden":
        return "unknown key"
    return str(err["msg"]).removeprefix("Value error, ")


def format_errors(exc: ValidationError, source: str, lines: Mapping[Loc, int]) -> str:
    """One line (plus indented detail) per problem: ``file:line: yaml.path: what is wrong``."""
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        line = None
        for depth in range(len(loc), -1, -1):  # a missing key has no line: use its parent's
            line = lines.get(loc[:depth])
            if line is not None:
                break
        where = f"{source}:{line}" if line is not None else source
        out.append(f"{where}: {dotted(loc)}: {_message(err)}")
    return "\n".join(out)


def load_spec(
    source: str | Path | Mapping[str, Any],
    *,
    registry: Registry | None = None,
    base_dir: str | Path | None = None,
) -> Spec:
    """Read and validate a spec.

    Args:
        source: a path to a YAML file, or an already parsed mapping.
        registry: the component registry (default: built-ins plus installed plugins).
        base_dir: folder relative paths in the spec are resolved against (default: the file's folder).

    Raises:
        SpecError: the file is missing or invalid; the message lists every problem.
    """
    if isinstance(source, Mapping):
        data, lines, name = dict(source), {}, "spec"
    else:
        path = Path(source)
        if not path.is_file():
            raise SpecError(f"spec file {path} does not exist")
        name = str(path)
        data, lines = parse_yaml(path.read_text(encoding="utf-8"), name)
        base_dir = path.resolve().parent if base_dir is None else base_dir
    return validate_spec(data, source_name=name, lines=lines, registry=registry, base_dir=base_dir)


def validate_spec(
    data: Any,
    *,
    source_name: str = "spec",
    lines: Mapping[Loc, int] | None = None,
    registry: Registry | None = None,
    base_dir: str | Path | None = None,
) -> Spec:
    """Validate parsed spec data (see :func:`load_spec`)."""
    if not isinstance(data, Mapping):
        raise SpecError(f"{source_name}: a spec is a mapping with a `model:` section, got {type(data).__name__}")
    context = {"registry": registry or get_registry(), "base_dir": base_dir}
    try:
        return Spec.model_validate(data, context=context)
    except ValidationError as exc:
        raise SpecError(format_errors(exc, source_name, lines or {})) from None


def spec_to_yaml(spec: Spec) -> str:
    """Serialise a spec back to YAML (round-trips through :func:`load_spec`)."""
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)
