"""The docs keep up with the code: every hook is in the hooks reference, every command in the CLI docs."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from mmfusion import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _hooks() -> list[str]:
    return [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("mmfusion_")]


def test_every_hook_is_documented_in_the_hooks_reference() -> None:
    reference = (DOCS / "plugins" / "hooks.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^## (mmfusion_\w+)", reference, flags=re.M))
    missing = sorted(set(_hooks()) - documented)
    assert not missing, f"hooks missing from docs/plugins/hooks.md: {missing}"
    assert not documented - set(_hooks()), "docs/plugins/hooks.md documents hooks that no longer exist"


def test_every_hook_has_a_docstring() -> None:
    for name in _hooks():
        assert (getattr(hookspecs, name).__doc__ or "").strip(), name


def test_every_command_is_in_the_cli_docs() -> None:
    from mmfusion.cli import cli

    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for command in cli.commands:
        assert f"mmfusion {command}" in text, command


def test_the_architecture_page_names_only_modules_that_exist() -> None:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(mmfusion/[\w/]+(?:\.py)?)`", text))
    assert len(named) > 20
    root = DOCS.parent
    assert sorted(n for n in named if not (root / n).exists()) == []


def test_the_architecture_page_lists_every_package() -> None:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    package = DOCS.parent / "mmfusion"
    members = [p.name + "/" for p in package.iterdir() if (p / "__init__.py").exists()]
    members += [p.name for p in package.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert sorted(m for m in members if f"`mmfusion/{m}`" not in text) == []
