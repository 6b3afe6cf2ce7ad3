"""`mmfusion plugins --check`: broken plugins give clear reports, the rest keeps working."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmfusion.cli import cli
from mmfusion.registry import get_registry

from ..plugin_fixtures import BROKEN_IMPORT, GOOD_FUSION, WRONG_DIM, make_distribution, use_site


@pytest.fixture
def broken_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "mmfusion-broken", {"broken_plugin": BROKEN_IMPORT}, {"broken": "broken_plugin"})
    make_distribution(site, "mmfusion-dupe", {"dupe_plugin": GOOD_FUSION}, {"dupe": "dupe_plugin"})
    make_distribution(site, "mmfusion-wrongdim", {"wrongdim_plugin": WRONG_DIM}, {"wrongdim": "wrongdim_plugin"})
    use_site(site, monkeypatch)
    yield site
    get_registry.cache_clear()


def test_three_broken_plugins_three_clear_reports(broken_site: Path) -> None:
    result = CliRunner().invoke(cli, ["plugins", "--check", "--json", "--only", "wrong_dim",
                                      "--only", "mmfusion:concat", "--only", "linear"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    problems = report["problems"]
    assert any("mmfusion-broken" in p and "broken_plugin" in p and "import" in p and "libfoo.so" in p
               for p in problems)
    assert any("fusion name 'concat' is provided by mmfusion" in p and "mmfusion-dupe" in p for p in problems)
    failed = {(c["component"], c["check"]): c["message"] for c in report["checks"] if not c["passed"]}
    assert failed[("mmfusion-wrongdim:wrong_dim", "check_fusion_output_dims")] == \
        "output has shape (5, 4), expected (5, 5)"
    assert {component for component, _ in failed} == {"mmfusion-wrongdim:wrong_dim"}
    passed = {c["component"] for c in report["checks"] if c["passed"]}
    assert {"mmfusion:concat", "mmfusion:linear"} <= passed
    # the rest of the registry still works
    registry = get_registry()
    assert registry.get("fusion", "attention").__name__ == "AttentionFusion"
    assert registry.get("fusion", "mmfusion-dupe:concat").__name__ == "OtherConcat"


def test_check_table_output(broken_site: Path) -> None:
    result = CliRunner().invoke(cli, ["plugins", "--check", "--only", "wrong_dim"])
    assert result.exit_code == 1
    assert "conformance checks" in result.output and "check_fusion_output_dims" in result.output
    assert "✗ plugin mmfusion-broken" in result.output


def test_check_passes_on_a_healthy_component() -> None:
    get_registry.cache_clear()
    result = CliRunner().invoke(cli, ["plugins", "--check", "--only", "mlp", "--json"])
    assert result.exit_code == 0, result.output
    assert all(c["passed"] for c in json.loads(result.stdout)["checks"])


def test_listing_exits_1_when_a_plugin_failed_to_load(broken_site: Path) -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)  # the whole listing is still printed
    assert any(f["distribution"] == "mmfusion-broken" for f in report["failures"])
    assert any(p["distribution"] == "mmfusion-wrongdim" for p in report["plugins"])
    table = CliRunner().invoke(cli, ["plugins"])
    assert table.exit_code == 1 and "✗ plugin mmfusion-broken" in table.output and "wrong_dim" in table.output


def test_only_with_an_unknown_name_says_so_and_exits_2() -> None:
    get_registry.cache_clear()
    result = CliRunner().invoke(cli, ["plugins", "--check", "--only", "atention"])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "--only atention: no component of that name the kit checks (kinds: encoder, fusion, head, loss, " \
           "logger, callback) — did you mean 'attention'?" in text
    assert "available: attention, bce, concat" in result.output and "checking" not in result.output
    alone = CliRunner().invoke(cli, ["plugins", "--only", "concat"])
    assert alone.exit_code == 2 and "add --check" in alone.output


def test_only_naming_a_component_of_a_broken_plugin_names_the_failure(broken_site: Path) -> None:
    result = CliRunner().invoke(cli, ["plugins", "--check", "--only", "broken_thing"])
    assert result.exit_code == 2
    assert "mmfusion-broken" in result.output and "libfoo.so" in result.output
