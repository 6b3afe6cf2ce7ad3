"""`mmfusion plugins`: each plugin with its distribution, version and components."""

from __future__ import annotations

import json

from click.testing import CliRunner

from mmfusion.cli import cli


def test_plugins_json_lists_builtins_with_kinds_and_modalities() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    components = {(c["kind"], c["name"]): c for p in report["plugins"] for c in p["components"]}
    assert components[("encoder", "timm")]["modality"] == "image"
    assert components[("encoder", "hf_text")]["modality"] == "text"
    assert ("fusion", "attention") in components and ("head", "mlp") in components
    builtin = [p for p in report["plugins"] if p["builtin"]]
    assert builtin and all(p["distribution"] == "mmfusion" and p["version"] for p in builtin)
    assert report["problems"] == []


def test_plugins_table() -> None:
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0
    assert "missing_modality" in result.output and "torchvision_resnet" in result.output
