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
