"""`mmfusion new-plugin`: the scaffold passes its own conformance tests and declares a working entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from click.testing import CliRunner

from mmfusion.cli import cli
from mmfusion.registry import load_registry
from mmfusion.scaffold.create import new_plugin

from ..plugin_fixtures import make_distribution

pytestmark = pytest.mark.slow  # the scaffold's own test suite runs in a subprocess


def _own_tests(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                          cwd=root, capture_output=True, text=True, env={"PYTHONPATH": str(root), "PATH": ""})


def test_the_scaffolds_own_tests_catch_an_entry_point_typo_and_a_missing_install(tmp_path: Path) -> None:
    assert CliRunner().invoke(cli, ["new-plugin", "typo_head", "--kind", "head", "--dir", str(tmp_path)]).exit_code == 0
    root = tmp_path / "mmfusion-typo-head"
    missing = _own_tests(root)
    assert missing.returncode != 0 and "mmfusion-typo-head is not installed: pip install -e ." in missing.stdout
    make_distribution(root, "mmfusion-typo-head", {}, {"typo_head": "mmfusion_typo_haed"})  # the typo
    typo = _own_tests(root)
    assert typo.returncode != 0 and "1 failed" in typo.stdout
    assert "No module named 'mmfusion_typo_haed'" in typo.stdout


@pytest.mark.parametrize("kind", ["encoder", "fusion", "head", "loss", "logger", "callback"])
def test_scaffold_starts_from_a_passing_state(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(cli, ["new-plugin", f"my_{kind}", "--kind", kind, "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / f"mmfusion-my-{kind}"
    assert {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} == {
        "pyproject.toml", "README.md", f"mmfusion_my_{kind}/__init__.py", f"mmfusion_my_{kind}/{kind}.py",
        "tests/test_conformance.py"}
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == f"mmfusion-my-{kind}"
    entry = project["project"]["entry-points"]["mmfusion"]
    assert entry == {f"my_{kind}": f"mmfusion_my_{kind}"}
    # installed (a dist-info with that entry point): its own tests pass, and mmfusion discovers it
    make_distribution(root, project["project"]["name"], {}, entry)
    tests = _own_tests(root)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout and "failed" not in tests.stdout
    monkeypatch.syspath_prepend(str(root))
    registry = load_registry(autoload=True)
    assert registry.resolve(kind, f"my_{kind}").plugin.distribution == f"mmfusion-my-{kind}"


def test_bad_names_and_existing_folders(tmp_path: Path) -> None:
    runner = CliRunner()
    assert "must be a lower-case identifier" in runner.invoke(cli, ["new-plugin", "9lives", "--dir",
                                                                    str(tmp_path)]).output
    assert runner.invoke(cli, ["new-plugin", "twice", "--dir", str(tmp_path)]).exit_code == 0
    again = runner.invoke(cli, ["new-plugin", "twice", "--dir", str(tmp_path)])
    assert again.exit_code == 2 and "already exists" in again.output


@pytest.mark.parametrize(("kind", "name"), [("fusion", "concat"), ("encoder", "timm"), ("head", "mlp"),
                                           ("loss", "focal"), ("logger", "csv"), ("callback", "stop_at")])
def test_names_of_installed_components_are_refused(kind: str, name: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["new-plugin", name, "--kind", kind, "--dir", str(tmp_path)])
    assert result.exit_code == 2
    article = "an" if kind == "encoder" else "a"
    assert f"{article} {kind} named '{name}' is already provided by mmfusion" in result.output
    assert not any(tmp_path.iterdir())  # nothing written


def test_same_name_as_a_component_of_another_kind_is_fine(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["new-plugin", "concat", "--kind", "head", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "head 'concat'" in result.output


@pytest.mark.parametrize("kind", ["encoder", "fusion", "head", "loss", "logger", "callback"])
def test_the_readme_spec_is_valid(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's example spec loads, against the built-ins plus the new component, with nothing installed."""
    import importlib
    import re

    import yaml

    from mmfusion.spec import load_spec

    root = new_plugin(f"my_{kind}", kind, tmp_path)
    readme = (root / "README.md").read_text(encoding="utf-8")
    [block] = re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
    monkeypatch.syspath_prepend(str(root))
    package = importlib.import_module(f"mmfusion_my_{kind}")
    registry = load_registry(autoload=False, extra=[package])
    spec = load_spec(yaml.safe_load(block), registry=registry)
    named = {"encoder": lambda: spec.model.encoders["text"].type, "fusion": lambda: spec.model.fusion.type,
             "head": lambda: spec.model.head.type, "loss": lambda: spec.train.loss.type,
             "logger": lambda: spec.train.loggers[-1].type, "callback": lambda: spec.train.callbacks[0].type}[kind]()
    assert named == f"my_{kind}"
    texts = [p.read_text(encoding="utf-8") for p in root.rglob("*") if p.is_file()]
    assert not any(re.search(r"\ba (encoder|a[a-z]+)\b", text) for text in texts)
