"""``mmfusion plugins``: which plugins loaded, what each provides, what failed; ``--check`` runs the kit."""

from __future__ import annotations

import sys

import click

from ..interfaces.kinds import CHECKED_KINDS
from .output import console, print_json, table


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option("--check", is_flag=True,
              help="Run the conformance kit on every installed encoder, fusion, head, loss, logger and "
              "callback; exit 1 if any fails.")
@click.option("--only", multiple=True, metavar="NAME",
              help="With --check: only these components (name or distribution:name; repeatable).")
def plugins(as_json: bool, check: bool, only: tuple[str, ...]) -> None:
    """List plugins (distribution, version), their components and any plugin problems.

    Exits with status 1 when a plugin failed to load or two provide the same name (after printing everything),
    or, with --check, when a check fails.
    """
    from ..errors import MMFusionError
    from ..registry import duplicate_message, get_registry

    if only and not check:
        raise MMFusionError("--only chooses the components --check runs the conformance kit on; add --check")
    registry = get_registry()
    _check_only(registry, only)
    by_plugin: dict[str, list] = {p.name: [] for p in registry.plugins}
    for entry in registry.entries():
        by_plugin.setdefault(entry.plugin.name, []).append(entry)
    problems = [f.describe() for f in registry.failures] + [duplicate_message(g) for g in registry.conflicts()]
    checks = _run_checks(registry, only, progress=not as_json) if check else None
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
            **({"checks": checks} if checks is not None else {}),
        })
    else:
        _print(registry, by_plugin, problems, checks)
    if problems or (checks is not None and any(not c["passed"] for c in checks)):
        sys.exit(1)


def _checked_entries(registry):  # type: ignore[no-untyped-def]
    """The components the kit checks: every kind's, but the loop's own callbacks (built in, run by every fit)."""
    from ..registry import is_always_on

    return [e for kind in CHECKED_KINDS for e in registry.entries(kind)
            if not (e.plugin.builtin and is_always_on(kind, e.cls))]


def _check_only(registry, only: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    """Every --only NAME must name a checked component: a typo would otherwise check nothing and pass."""
    from ..errors import MMFusionError, did_you_mean

    entries = _checked_entries(registry)
    known = {e.name for e in entries} | {e.qualified_name for e in entries}
    for name in only:
        if name not in known:
            names = sorted({e.name for e in entries})
            failed = dict.fromkeys(f for kind in CHECKED_KINDS for f in registry.load_failures(kind))
            raise MMFusionError(f"--only {name}: no component of that name the kit checks (kinds: "
                                f"{', '.join(CHECKED_KINDS)}){did_you_mean(name, known)}\n"
                                f"  available: {', '.join(names)}"
                                + "".join(f"\n  {f.describe()}" for f in failed))


def _run_checks(registry, only: tuple[str, ...], progress: bool) -> list[dict]:  # type: ignore[no-untyped-def]
    from ..testing import run_checks

    entries = [e for e in _checked_entries(registry) if not only or e.name in only or e.qualified_name in only]
    results = []
    for entry in entries:
        if progress:
            click.echo(f"checking {entry.kind} {entry.qualified_name} ...", err=True)
        for result in run_checks(entry.cls):
            results.append({"kind": entry.kind, "component": entry.qualified_name, "check": result.check,
                            "passed": result.passed, "message": result.message,
                            "seconds": round(result.seconds, 3)})
    return results


def _print(registry, by_plugin, problems, checks) -> None:  # type: ignore[no-untyped-def]
    rows = []
    for plugin in registry.plugins:
        for i, entry in enumerate(by_plugin.get(plugin.name) or [None]):
            first = (plugin.distribution, plugin.version, plugin.module) if i == 0 else ("", "", "")
            rows.append((*first, *((entry.kind, entry.name, _modality(entry) or "") if entry else ("-", "-", ""))))
    out = console()
    out.print(table("mmfusion plugins", ("distribution", "version", "module", "kind", "name", "modality"), rows))
    for problem in problems:
        out.print(f"[red]✗ {problem}[/red]", markup=True, highlight=False)
    if checks is None:
        return
    summary = []
    for kind, name in dict.fromkeys((c["kind"], c["component"]) for c in checks):
        mine = [c for c in checks if c["component"] == name and c["kind"] == kind]
        failed = [c for c in mine if not c["passed"]]
        passed = f"{len(mine) - len(failed)}/{len(mine)}"
        summary.append((f"{kind} {name}", f"[green]{passed}[/green]" if not failed else f"[red]{passed}[/red]",
                        "\n".join(f"{c['check']}: {c['message']}" for c in failed)))
    out.print(table("conformance checks", ("component", "passed", "failed checks"), summary))


def _modality(entry) -> str | None:  # type: ignore[no-untyped-def]
    return entry.name if entry.kind == "modality" else entry.modality
