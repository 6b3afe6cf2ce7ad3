"""Writing a new plugin distribution from the templates."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from .. import __version__
from ..errors import MMFusionError
from .templates import COMPONENTS, INIT, PYPROJECT, README, TEST

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def new_plugin(name: str, kind: str = "encoder", directory: str | Path = ".") -> Path:
    """Create ``mmfusion-<name>/`` holding a working ``kind`` component, its entry point and tests.

    Raises:
        MMFusionError: the name is not a lower-case identifier, the kind is unknown, an installed plugin
            (a built-in included) already provides a ``kind`` of that name, or the folder exists.
    """
    name = name.strip().lower().replace("-", "_")
    if not _NAME_RE.match(name):
        raise MMFusionError(f"plugin name '{name}' must be a lower-case identifier (letters, digits, _), "
                            "e.g. clip_text")
    if kind not in COMPONENTS:
        raise MMFusionError(f"unknown component kind '{kind}'; choose one of {', '.join(COMPONENTS)}")
    _check_name_is_free(kind, name)
    dist = f"mmfusion-{name.replace('_', '-')}"
    package = f"mmfusion_{name}"
    root = Path(directory) / dist
    if root.exists():
        raise MMFusionError(f"{root} already exists; choose another name or folder")
    component = COMPONENTS[kind]
    class_name = "".join(part.title() for part in name.split("_")) + component["suffix"]
    values = {
        "name": name, "dist": dist, "package": package, "kind": kind, "module": kind,
        "class_name": class_name, "config_class": class_name + "Config", "hook": component["hook"],
        "title": f"{kind} '{name}'", "mmfusion_version": __version__.split("+")[0],
    }
    values["usage"] = Template(component["usage"]).substitute(values)
    files = {
        "pyproject.toml": PYPROJECT, "README.md": README, f"{package}/__init__.py": INIT,
        f"{package}/{kind}.py": component["template"], "tests/test_conformance.py": TEST,
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(values), encoding="utf-8")
    return root


def _check_name_is_free(kind: str, name: str) -> None:
    """Refuse a name an installed component of the same kind has: every spec using it would turn ambiguous."""
    from ..registry import get_registry

    registry = get_registry()
    if name in registry.names(kind):
        providers = ", ".join(sorted({e.plugin.distribution for e in registry.entries(kind) if e.name == name}))
        raise MMFusionError(
            f"{'an' if kind == 'encoder' else 'a'} {kind} named '{name}' is already provided by {providers}; a second "
            f"one would make every spec that says `type: {name}` ambiguous. Choose another name (e.g. '{name}_v2' or "
            f"'<your org>_{name}')"
        )

