"""``mmfusion plugins``: which plugins loaded, what each provides, and what failed."""

from __future__ import annotations

import click

from .output import console, print_json


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def plugins(as_json: bool) -> None:
    """List plugins (distribution, version), their components and any plugin problems."""
    from ..registry import duplicate_message, get_registry

    registry = get_registry()
    by_plugin: dict[str, list] = {p.name: [] for p in registry.plugins}
    for entry in registry.entries():
        by_plugin.setdefault(entry.plugin.name, []).append(entry)
    problems = [f.describe() for f in registry.failures] + [duplicate_message(g) for g in registry.conflicts()]
    if as_json:
        print_json({
            "plugins": [
                {"name": p.name, "distribution": p.distribution, "version": p.version, "module": p.module,
                 "builtin": p.builtin,
                 "components": [{"kind": e.kind, "name": e.name, "modality": _modality(e)}
                                for e in by_plugin.get(p.name, [])]}
                for p in registry.plugins
            ],
            "failures": [vars(f) for f in registry.failures],
            "conflicts": [[e.qualified_name for e in g] for g in registry.conflicts()],
            "problems": problems,
        })
        return
    from rich.table import Table

    table = Table(title="mmfusion plugins")
    for column in ("distribution", "version", "module", "kind", "name", "modality"):
        table.add_column(column)
    for plugin in registry.plugins:
        entries = by_plugin.get(plugin.name, [])
        first = True
        for entry in entries or [None]:
            table.add_row(plugin.distribution if first else "", plugin.version if first else "",
                          plugin.module if first else "", entry.kind if entry else "-",
                          entry.name if entry else "-", (_modality(entry) or "") if entry else "")
            first = False
    out = console()
    out.print(table)
    for problem in problems:
        out.print(f"[red]✗ {problem}[/red]")


def _modality(entry) -> str | None:  # type: ignore[no-untyped-def]
    return entry.name if entry.kind == "modality" else entry.modality
