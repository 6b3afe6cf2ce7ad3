"""``mmfusion schema``: the spec's JSON schema, for editor autocompletion and validation."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None, help="Write to a file.")
def schema(output: Path | None) -> None:
    """Print the JSON schema of spec files (every installed component's options included)."""
    from ..io import write_text_atomic
    from ..spec import spec_json_schema

    text = json.dumps(spec_json_schema(), indent=2)
    if output is None:
        click.echo(text)
    else:
        write_text_atomic(output, text + "\n")
        click.echo(f"wrote {output}")
