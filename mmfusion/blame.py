"""Which installed plugin's code raised an error: a plugin's bug is reported as the plugin's, not as mmfusion's.

An exception from inside a third-party component (a fusion's ``forward``, a loss, a logger) would otherwise reach
the command line as "internal error ... please report it", blaming mmfusion and naming nothing the user can act
on. The traceback says whose code it was: the innermost frame in a plugin's package gives the file and line, the
innermost ``self`` that is one of that plugin's registered components gives its kind and name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from .errors import MMFusionError, PluginError
from .registry import ComponentEntry, Registry

#: packages whose frames are never a plugin's: mmfusion itself, its built-in plugins included
_OURS = ("mmfusion",)


@dataclass(frozen=True)
class Culprit:
    """The plugin code an error came from."""

    distribution: str
    version: str
    module: str
    filename: str
    line: int
    component: ComponentEntry | None

    def describe(self) -> str:
        dist = f"{self.distribution} {self.version}".strip()
        if self.component is None:
            return f"plugin {dist} ({self.module})"
        return f"{self.component.kind} '{self.component.name}' from {dist}"


def _package(module: str) -> str:
    return module.partition(".")[0]


def _plugin_packages(registry: Registry) -> dict[str, list[ComponentEntry]]:
    """Each third-party plugin's top-level package, with the components registered from it."""
    packages: dict[str, list[ComponentEntry]] = {}
    for plugin in registry.plugins:
        if not plugin.builtin and _package(plugin.module) not in _OURS:
            packages.setdefault(_package(plugin.module), [])
    for entry in registry.entries():
        if entry.plugin.builtin:
            continue
        for module in (entry.cls.__module__, entry.plugin.module):
            if _package(module) not in _OURS:
                packages.setdefault(_package(module), []).append(entry)
    return packages


def _frames(tb: TracebackType | None) -> Iterator[TracebackType]:
    while tb is not None:
        yield tb
        tb = tb.tb_next


def find_culprit(exc: BaseException, registry: Registry) -> Culprit | None:
    """The innermost third-party plugin frame on ``exc``'s traceback, with the innermost of that plugin's
    components whose method is on it; None when no plugin code is there."""
    packages = _plugin_packages(registry)
    if not packages:
        return None
    found: tuple[str, str, int] | None = None
    component = None
    for tb in _frames(exc.__traceback__):  # outermost first: the last match is the innermost
        frame = tb.tb_frame
        module = str(frame.f_globals.get("__name__", ""))
        entries = packages.get(_package(module))
        if entries is None:
            continue
        found = (module, frame.f_code.co_filename, tb.tb_lineno)
        owner = frame.f_locals.get("self", frame.f_locals.get("cls"))
        owner_type = owner if isinstance(owner, type) else type(owner)
        mine = [e for e in entries if isinstance(owner_type, type) and issubclass(owner_type, e.cls)]
        if mine:
            component = mine[0]
    if found is None:
        return None
    module, filename, line = found
    plugin = component.plugin if component else next(
        (p for p in registry.plugins if _package(p.module) == _package(module)), None)
    return Culprit(plugin.distribution if plugin else _package(module), plugin.version if plugin else "", module,
                   filename, line, component)


def plugin_error(exc: BaseException, registry: Registry) -> PluginError | None:
    """``exc`` as a :class:`PluginError` naming the plugin and component whose code raised it, or None."""
    if isinstance(exc, MMFusionError):
        return None
    culprit = find_culprit(exc, registry)
    if culprit is None:
        return None
    text = str(exc).split("Exception raised from")[0].strip()  # torch's C++ frames say nothing to a user
    return PluginError(f"{culprit.describe()} raised {type(exc).__name__}: {text}\n"
                       f"  at {culprit.filename}:{culprit.line}: a problem in the plugin (fix it, report it to its "
                       "authors, or choose another component); `mmfusion plugins --check` runs its conformance kit")


@contextlib.contextmanager
def plugin_errors_named(registry: Registry | None = None) -> Iterator[None]:
    """Re-raise an error from a plugin's code as a :class:`PluginError` that names it (the original chained)."""
    try:
        yield
    except Exception as exc:
        from .registry import get_registry

        named = plugin_error(exc, registry or get_registry())
        if named is None:
            raise
        raise named from exc
