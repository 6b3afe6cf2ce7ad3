"""``mmfusion new-plugin NAME``: scaffold a plugin distribution that passes the conformance kit."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("new-plugin")
@click.argument("name")
@click.option("--kind", type=click.Choice(["encoder", "fusion", "head", "loss", "logger", "callback"]),
              default="encoder", show_default=True)
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Where to create mmfusion-<name>/.")
def new_plugin(name: str, kind: str, directory: Path) -> None:
    """Create mmfusion-NAME/: pyproject with the entry point, a working component, a conformance test."""
    from ..scaffold.create import new_plugin as create

    root = create(name, kind, directory)
    component = name.strip().lower().replace("-", "_")
    click.echo(f"created {root}/ with a working {kind} '{component}' (use it in a spec as `type: {component}`). "
               "Next:\n"
               f"  cd {root} && pip install -e '.[test]' && pytest && mmfusion plugins\n"
               "then replace the example component with yours, keeping the tests green; the plugin guide is "
               "docs/plugins/writing-a-plugin.md in mmfusion's source repository.")
