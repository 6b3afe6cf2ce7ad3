"""`mmfusion schema` prints (or writes) valid JSON."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mmfusion.cli import cli


def test_schema_to_stdout_and_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert "fusion.attention" in json.loads(result.output)["$defs"]
    result = CliRunner().invoke(cli, ["schema", "-o", str(tmp_path / "s.json")])
    assert result.exit_code == 0 and json.loads((tmp_path / "s.json").read_text())["title"] == "mmfusion spec"
