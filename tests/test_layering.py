"""The core never imports concrete model libraries; the CLI starts without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mmfusion

PACKAGE = Path(mmfusion.__file__).parent
HEAVY = {"torchvision", "timm", "transformers", "datasets"}
#: the public image-encoder base builds torchvision's transforms, imported inside the function that builds them;
#: the test kit writes tiny Hugging Face models, importing transformers inside its writers
LAZY_TRANSFORMS = {"interfaces/image_encoder.py": {"torchvision"}, "testing/tiny_models.py": {"transformers"}}


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names} | {
        node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_core_modules_do_not_import_model_libraries() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(_imports(path) & HEAVY)
        for path in PACKAGE.rglob("*.py")
        if "default_plugins" not in path.parts
        and _imports(path) & HEAVY - LAZY_TRANSFORMS.get(path.relative_to(PACKAGE).as_posix(), set())
    }
    assert offenders == {}


def test_the_lazy_transform_import_stays_lazy() -> None:
    for name, allowed in LAZY_TRANSFORMS.items():
        assert not _top_level_imports(PACKAGE / name) & allowed


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_cli_start_up_imports_no_torch() -> None:
    out = _run("import sys, mmfusion.cli; print(sorted(m for m in ('torch', 'timm', 'transformers', 'torchvision', "
               "'datasets') if m in sys.modules))")
    assert out == "[]"


def test_loading_plugins_imports_no_model_library() -> None:
    out = _run("import sys, mmfusion; r = mmfusion.get_registry(); assert r.names('encoder'); "
               "print(sorted(m for m in ('timm', 'transformers', 'torchvision', 'datasets') if m in sys.modules))")
    assert out == "[]"
