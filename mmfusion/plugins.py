"""Plugin discovery: built-in default plugins plus entry points in the ``mmfusion`` group.

A plugin that fails (import error, invalid hook implementation) is recorded as a
:class:`PluginFailure` with its distribution, module and error, and the others still load.
``MMFUSION_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points, leaving only the built-ins.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata as importlib_metadata
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pluggy

from . import hookspecs

#: the built-in plugins, one module each, loaded by name like entry points (the core never imports them)
DEFAULT_PLUGINS: tuple[str, ...] = tuple(f"mmfusion.default_plugins.{name}" for name in (
    "modalities torchvision_resnet timm_image hf_text hf_image concat attention missing_modality gated late tensor "
    "low_rank_tensor film sum_mean linear_head mlp_head csv_dataset easy_vqa_dataset hf_datasets corruptions losses "
    "csv_logger tensorboard_logger mlflow_logger stop_at callbacks").split())

ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME
AUTOLOAD_ENV = "MMFUSION_DISABLE_PLUGIN_AUTOLOAD"


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin: its pluggy name, the distribution that ships it and the module it lives in."""

    name: str
    distribution: str
    version: str
    module: str
    builtin: bool = False

    def failure(self, stage: str, error: str) -> PluginFailure:
        return PluginFailure(self.distribution, self.module, stage, error, self.version)


@dataclass(frozen=True)
class PluginFailure:
    """A plugin (or one of its components) that could not be used, and why."""

    distribution: str
    module: str
    stage: str
    error: str
    version: str = ""

    def describe(self) -> str:
        dist = f"{self.distribution} {self.version}".strip()
        return f"plugin {dist} ({self.module}) failed at {self.stage}: {self.error}"


@dataclass
class LoadedPlugins:
    """The plugin manager together with what loaded and what failed."""

    manager: pluggy.PluginManager
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)


def _mmfusion_version() -> str:
    try:
        return importlib_metadata.version("mmfusion")
    except importlib_metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _register(loaded: LoadedPlugins, info: PluginInfo, load: Callable[[], object]) -> None:
    """Import one plugin and register it; an import or pluggy validation error becomes a failure, not a crash
    (a broken plugin, built-ins included, must not take the others down)."""
    try:
        obj = load()
    except Exception as exc:
        loaded.failures.append(info.failure("import", _error_text(exc)))
        return
    try:
        loaded.manager.register(obj, name=info.name)
    except Exception as exc:  # pluggy.PluginValidationError, duplicate plugin names, ...
        loaded.failures.append(info.failure("registration", _error_text(exc)))
        return
    loaded.plugins[info.name] = info


def _entry_points() -> list[importlib_metadata.EntryPoint]:
    unique: dict[tuple[str, str, str], importlib_metadata.EntryPoint] = {}
    for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        # the same distribution can be visible twice on sys.path: keep the first
        unique.setdefault((ep.dist.name if ep.dist else "", ep.name, ep.value), ep)
    return sorted(unique.values(), key=lambda ep: (ep.dist.name if ep.dist else "", ep.name))


def load_plugins(*, autoload: bool | None = None, extra: Iterable[object] = ()) -> LoadedPlugins:
    """Create the plugin manager and register built-ins, entry-point plugins (``autoload``; None: unless
    MMFUSION_DISABLE_PLUGIN_AUTOLOAD is set) and ``extra`` plugin objects (modules, classes, instances)."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    loaded = LoadedPlugins(manager)
    version = _mmfusion_version()

    for name in DEFAULT_PLUGINS:
        _register(loaded, PluginInfo(name, "mmfusion", version, name, builtin=True),
                  functools.partial(importlib.import_module, name))

    if autoload is None:
        autoload = os.environ.get(AUTOLOAD_ENV, "").strip().lower() not in {"1", "true", "yes", "on"}
    if autoload:
        for ep in _entry_points():
            dist = ep.dist.name if ep.dist is not None else "(unknown distribution)"
            dist_version = ep.dist.version if ep.dist is not None else ""
            _register(loaded, PluginInfo(f"{dist}:{ep.name}", dist, dist_version, ep.value), ep.load)

    for index, obj in enumerate(extra):
        module = getattr(obj, "__name__", None) or type(obj).__name__
        _register(loaded, PluginInfo(f"extra-{index}:{module}", "(in-process)", "", str(module)), lambda o=obj: o)

    while True:  # hook implementations named mmfusion_* that match no hook (typos): drop that plugin
        try:
            loaded.manager.check_pending()
            break
        except pluggy.PluginValidationError as exc:
            plugin_name = loaded.manager.get_name(exc.plugin) or "?"
            info = loaded.plugins.pop(plugin_name, None)
            loaded.manager.unregister(exc.plugin)
            if info is not None:
                loaded.failures.append(info.failure("registration", _error_text(exc)))
    return loaded
