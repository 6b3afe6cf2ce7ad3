"""The component registry: kind → name → component class, built from the plugin hooks.

One name, one class: when two plugins provide the same name, the bare name is ambiguous and using
it is an error naming both sources; ``distribution:name`` picks one. Invalid components and hooks
that raise are recorded as failures; the rest of the registry still works.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .errors import AmbiguousComponentError, UnknownComponentError, did_you_mean
from .interfaces.kinds import KINDS
from .plugins import LoadedPlugins, PluginFailure, PluginInfo, load_plugins

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ComponentEntry:
    """One registered component: its kind, name, class and the plugin that provides it."""

    kind: str
    name: str
    cls: type
    plugin: PluginInfo

    @property
    def qualified_name(self) -> str:
        return f"{self.plugin.distribution}:{self.name}"

    @property
    def modality(self) -> str | None:
        return getattr(self.cls, "modality", None)


def component_problem(kind: str, cls: Any) -> str | None:
    """Why ``cls`` cannot be registered as a ``kind`` component, or None if it can."""
    base = KINDS[kind].base_class()
    if not isinstance(cls, type) or not issubclass(cls, base):
        return f"{cls!r} is not a subclass of {base.__module__}.{base.__name__}"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        return f"{cls.__qualname__}.name must be a lower-case identifier, got {name!r}"
    config_base = KINDS[kind].config_class()
    if config_base is not None and not is_always_on(kind, cls):
        config = getattr(cls, "Config", None)
        if not isinstance(config, type) or not issubclass(config, config_base):
            return f"{cls.__qualname__}.Config must subclass {config_base.__name__}"
        type_field = config.model_fields.get("type")
        if type_field is None or type_field.default != name:
            return (f"{cls.__qualname__}.Config.type must default to the component name {name!r} "
                    f"(declare `type: Literal[{name!r}] = {name!r}`)")
    if KINDS[kind].needs_modality and not isinstance(getattr(cls, "modality", None), str):
        return f"{cls.__qualname__}.modality must name the modality it applies to"
    if kind == "loss":
        return loss_tasks_problem(cls)
    return None


def loss_tasks_problem(cls: type) -> str | None:
    """A loss's ``tasks``: a non-empty tuple of known task names (a bare string would read as its letters)."""
    from .interfaces.loss import TASKS

    tasks = getattr(cls, "tasks", None)
    example = "e.g. tasks = ('multiclass',)"
    if isinstance(tasks, str):
        return (f"{cls.__qualname__}.tasks is the string {tasks!r}; it must be a tuple of task names, {example} "
                "(note the comma)")
    if not (isinstance(tasks, tuple) and tasks and all(isinstance(t, str) for t in tasks)):
        return f"{cls.__qualname__}.tasks must list the tasks the loss handles, {example}; got {tasks!r}"
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        return (f"{cls.__qualname__}.tasks names {unknown[0]!r}, which is not a task (the tasks: {', '.join(TASKS)})"
                f"{did_you_mean(unknown[0], TASKS)}")
    return None


def is_always_on(kind: str, cls: type) -> bool:
    """Whether ``cls`` is used in every run without a spec naming it (a callback without a ``Config``)."""
    return KINDS[kind].always_on_without_config and getattr(cls, "Config", None) is None


class Registry:
    """Components by kind and name, with the plugins they came from and what failed to load."""

    def __init__(self, entries: Iterable[ComponentEntry], plugins: Iterable[PluginInfo] = (),
                 failures: Iterable[PluginFailure] = ()) -> None:
        self.plugins: list[PluginInfo] = list(plugins)
        self.failures: list[PluginFailure] = list(failures)
        self._by_kind: dict[str, dict[str, list[ComponentEntry]]] = {kind: {} for kind in KINDS}
        for entry in entries:
            same = self._by_kind[entry.kind].setdefault(entry.name, [])
            if not any(existing.cls is entry.cls for existing in same):
                same.append(entry)

    @classmethod
    def from_plugins(cls, loaded: LoadedPlugins) -> Registry:
        """Call every plugin's hooks one by one so that a failing hook is attributed to its plugin."""
        entries: list[ComponentEntry] = []
        failures = list(loaded.failures)
        for kind in KINDS.values():
            stage = f"hook {kind.hook}"
            for impl in getattr(loaded.manager.hook, kind.hook).get_hookimpls():
                info = loaded.plugins.get(impl.plugin_name)
                if info is None:
                    continue
                try:
                    result = impl.function()
                except Exception as exc:
                    failures.append(info.failure(stage, f"{type(exc).__name__}: {exc}"))
                    continue
                if not isinstance(result, (list, tuple)):
                    returned = type(result).__name__
                    failures.append(info.failure(stage, f"must return a list of classes, returned {returned}"))
                    continue
                for component in result:
                    problem = component_problem(kind.name, component)
                    if problem:
                        failures.append(info.failure(stage, problem))
                    else:
                        entries.append(ComponentEntry(kind.name, component.name, component, info))
        return cls(entries, loaded.plugins.values(), failures)

    def names(self, kind: str) -> list[str]:
        """Sorted names a spec may give to one kind (ambiguous names included once; always-on ones left out)."""
        return sorted(name for name, same in self._by_kind[kind].items() if not is_always_on(kind, same[0].cls))

    def entries(self, kind: str | None = None) -> list[ComponentEntry]:
        """All entries, or those of one kind, sorted by kind then name."""
        kinds = [kind] if kind else list(KINDS)
        return [e for k in kinds for name in sorted(self._by_kind[k]) for e in self._by_kind[k][name]]

    def conflicts(self) -> list[list[ComponentEntry]]:
        """Groups of entries that share a kind and a name (each group is one duplicate-name error)."""
        return [same for kind in KINDS for same in self._by_kind[kind].values() if len(same) > 1]

    def resolve(self, kind: str, name: str) -> ComponentEntry:
        """Find the component ``name`` (or ``distribution:name``) of ``kind``.

        Raises:
            UnknownComponentError: no plugin provides it (the message suggests close names).
            AmbiguousComponentError: several plugins provide it and the name is not qualified.
        """
        table = self._by_kind[kind]
        if ":" in name:
            dist, _, short = name.partition(":")
            for entry in table.get(short, []):
                if _normalise(entry.plugin.distribution) == _normalise(dist):
                    return entry
            providers = ", ".join(e.qualified_name for e in table.get(short, [])) or "none"
            failed = [f for f in self.load_failures(kind) if _normalise(f.distribution) == _normalise(dist)]
            raise UnknownComponentError(f"no {kind} '{short}' from distribution '{dist}' (providers of '{short}': "
                                        f"{providers})" + "".join(f"\n  {f.describe()}" for f in failed))
        same = table.get(name)
        if not same:
            raise UnknownComponentError(self.unknown_message(kind, name))
        if len(same) > 1:
            raise AmbiguousComponentError(duplicate_message(same))
        return same[0]

    def get(self, kind: str, name: str) -> type:
        """The class of component ``name`` of ``kind`` (see :meth:`resolve`)."""
        return self.resolve(kind, name).cls

    def load_failures(self, kind: str) -> list[PluginFailure]:
        """Failures that may have cost a ``kind`` component: plugins that did not import or register, and
        that kind's hook raising or returning invalid classes."""
        hook = f"hook {KINDS[kind].hook}"
        return [f for f in self.failures if f.stage in ("import", "registration", hook)]

    def unknown_message(self, kind: str, name: str) -> str:
        """``unknown encoder 'x' — did you mean ...; available: ...`` plus the plugins that failed to load."""
        available = ", ".join(self.names(kind)) or "(none)"
        message = f"unknown {kind} '{name}'{did_you_mean(name, self.names(kind))}\n  available: {available}"
        failed = self.load_failures(kind)
        if not failed:
            return message + " (is the plugin that provides it installed? `mmfusion plugins`)"
        count = "a plugin" if len(failed) == 1 else f"{len(failed)} plugins"
        return (message + f"\n  {count} failed to load and may provide it (fix or uninstall; `mmfusion plugins` "
                "lists every problem):" + "".join(f"\n    {f.describe()}" for f in failed))


def duplicate_message(same: list[ComponentEntry]) -> str:
    first = same[0]
    sources = " and ".join(f"{e.plugin.distribution} ({e.cls.__module__}.{e.cls.__qualname__})" for e in same)
    qualified = " or ".join(f"'{e.qualified_name}'" for e in same)
    return f"{first.kind} name '{first.name}' is provided by {sources}; write {qualified} to choose one"


def _normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def load_registry(*, autoload: bool | None = None, extra: Iterable[object] = ()) -> Registry:
    """Load plugins and build a fresh registry (see :func:`mmfusion.plugins.load_plugins`)."""
    return Registry.from_plugins(load_plugins(autoload=autoload, extra=extra))


@lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The process-wide registry (built-ins plus installed plugins), built on first use (``cache_clear()``
    forgets it, e.g. after installing a plugin in the same process)."""
    return load_registry()
