"""The core never imports concrete model libraries; the CLI starts without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mmfusion

PACKAGE = Path(mmfusion.__file__).parent
HEAVY = {"torchvision", "timm", "transformers", "datasets", "peft"}
#: the public image-encoder base builds torchvision's transforms, imported inside the function that builds them;
#: the test kit writes tiny Hugging Face models, importing transformers inside its writers; an encoder's `peft:`
#: option imports peft inside the function that applies it
LAZY_TRANSFORMS = {"interfaces/image_encoder.py": {"torchvision"}, "testing/tiny_models.py": {"transformers"},
                   "model/peft.py": {"peft"}}


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
    out = _run("import sys, mmfusion; r = mmfusion.get_registry(); assert r.names('encoder'); print(sorted(m for m in "
               "('timm', 'transformers', 'torchvision', 'datasets', 'peft') if m in sys.modules))")
    assert out == "[]"


# ----- the import graph: no circle, and every import points down the layers (docs/architecture.md) -------------

#: the layers of mmfusion/, bottom first: a module imports only from its own layer or the ones below
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "io", "progress", "hookspecs"),
    ("interfaces",),
    ("plugins", "registry", "blame"),
    ("weights", "runtime", "tasks", "plots"),
    ("spec",),
    ("model",),
    ("data",),
    ("run",),
    ("inference",),
    ("export",),
    ("training",),
    ("evaluation",),
    ("prediction",),
    ("sweep",),
    ("search",),
    ("api", "cli", "scaffold", "testing", "default_plugins", "__init__", "__main__"),
)
LAYER_OF = {name: index for index, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _resolve(name: str) -> str | None:
    """The mmfusion module an imported dotted name loads (``pkg.mod.attr`` → ``pkg.mod``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    """Module → the mmfusion modules it imports anywhere: at the top, inside functions, under TYPE_CHECKING."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        found: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {_resolve(alias.name) for alias in node.names if alias.name.startswith("mmfusion")}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                elif node.module and node.module.startswith("mmfusion"):
                    prefix = node.module
                else:
                    continue
                found |= {_resolve(f"{prefix}.{alias.name}") for alias in node.names}
        graph[module] = {m for m in found if m is not None and m != module}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
    return circles


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    return LAYER_OF[top]


def test_every_module_has_a_layer() -> None:
    tops = {m.split(".")[1] if "." in m else "__init__" for m in MODULES}
    assert sorted(tops - set(LAYER_OF)) == []


def test_the_package_has_no_import_circle() -> None:
    assert _circles(_graph()) == []


def test_imports_point_down_the_layers() -> None:
    upward = sorted(f"{module} imports {target}" for module, targets in _graph().items() for target in targets
                    if _layer(target) > _layer(module))
    assert upward == []


def test_at_most_fifteen_modules_at_the_root() -> None:
    root = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(root) <= 15, root


def test_the_circle_finder_finds_circles() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []
