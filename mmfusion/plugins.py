"""Plugin discovery: built-in default plugins plus entry points in the ``mmfusion`` group.

A plugin that fails (import error, invalid hook implementation) is recorded as a
:class:`PluginFailure` with its distribution, module and error, and the others still load.
``MMFUSION_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points, leaving only the built-ins.
"""

from __future__ import annotations

import importlib
import importlib.metadata as importlib_metadata
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import pluggy

from . import hookspecs

#: the built-in plugins, one module each, loaded by name like entry points (the core never imports them)
DEFAULT_PLUGINS: tuple[str, ...] = (
    "mmfusion.default_plugins.modalities",
    "mmfusion.default_plugins.torchvision_resnet",
    "mmfusion.default_plugins.timm_image",
    "mmfusion.default_plugins.hf_text",
    "mmfusion.default_plugins.hf_image",
    "mmfusion.default_plugins.concat",
    "mmfusion.default_plugins.attention",
    "mmfusion.default_plugins.missing_modality",
    "mmfusion.default_plugins.gated",
    "mmfusion.default_plugins.late",
    "mmfusion.default_plugins.tensor",
    "mmfusion.default_plugins.low_rank_tensor",
    "mmfusion.default_plugins.film",
    "mmfusion.default_plugins.sum_mean",
    "mmfusion.default_plugins.linear_head",
    "mmfusion.default_plugins.mlp_head",
    "mmfusion.default_plugins.csv_dataset",
    "mmfusion.default_plugins.easy_vqa_dataset",
    "mmfusion.default_plugins.hf_datasets",
    "mmfusion.default_plugins.corruptions",
    "mmfusion.default_plugins.losses",
    "mmfusion.default_plugins.csv_logger",
    "mmfusion.default_plugins.tensorboard_logger",
    "mmfusion.default_plugins.mlflow_logger",
    "mmfusion.default_plugins.stop_at",
    "mmfusion.default_plugins.callbacks",
)

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


def autoload_enabled() -> bool:
    """Entry-point discovery is on unless ``MMFUSION_DISABLE_PLUGIN_AUTOLOAD`` is set to a true value."""
    return os.environ.get(AUTOLOAD_ENV, "").strip().lower() not in {"1", "true", "yes", "on"}


def _mmfusion_version() -> str:
    try:
        return importlib_metadata.version("mmfusion")
    except importlib_metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _register(loaded: LoadedPlugins, obj: object, info: PluginInfo) -> None:
    """Register one plugin object; a pluggy validation error becomes a failure, not a crash."""
    try:
        loaded.manager.register(obj, name=info.name)
    except Exception as exc:  # pluggy.PluginValidationError, duplicate plugin names, ...
        loaded.failures.append(
            PluginFailure(info.distribution, info.module, "registration", _error_text(exc), info.version)
        )
        return
    loaded.plugins[info.name] = info


def _entry_points() -> list[importlib_metadata.EntryPoint]:
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else ""
        key = (dist, ep.name, ep.value)
        if key not in seen:  # the same distribution can be visible twice on sys.path
            seen.add(key)
            unique.append(ep)
    return sorted(unique, key=lambda ep: (ep.dist.name if ep.dist else "", ep.name))


def load_plugins(*, autoload: bool | None = None, extra: Iterable[object] = ()) -> LoadedPlugins:
    """Create the plugin manager and register built-ins, entry-point plugins and ``extra`` objects.

    Args:
        autoload: load entry-point plugins; None means "unless MMFUSION_DISABLE_PLUGIN_AUTOLOAD is set".
        extra: plugin objects (modules, classes, instances) to register as well, e.g. in tests.

    Returns:
        The manager with the loaded plugins and the failures.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    loaded = LoadedPlugins(manager)
    version = _mmfusion_version()

    for module_name in DEFAULT_PLUGINS:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # a broken built-in must not take the others down either
            loaded.failures.append(PluginFailure("mmfusion", module_name, "import", _error_text(exc), version))
            continue
        _register(loaded, module, PluginInfo(module_name, "mmfusion", version, module_name, builtin=True))

    if autoload_enabled() if autoload is None else autoload:
        for ep in _entry_points():
            dist = ep.dist.name if ep.dist is not None else "(unknown distribution)"
            dist_version = ep.dist.version if ep.dist is not None else ""
            try:
                obj = ep.load()
            except Exception as exc:
                loaded.failures.append(PluginFailure(dist, ep.value, "import", _error_text(exc), dist_version))
                continue
            _register(loaded, obj, PluginInfo(f"{dist}:{ep.name}", dist, dist_version, ep.value))

    for index, obj in enumerate(extra):
        module = getattr(obj, "__name__", None) or type(obj).__name__
        _register(loaded, obj, PluginInfo(f"extra-{index}:{module}", "(in-process)", "", str(module)))

    while True:  # hook implementations named mmfusion_* that match no hook (typos): drop that plugin
        try:
            loaded.manager.check_pending()
            break
        except pluggy.PluginValidationError as exc:
            plugin_name = loaded.manager.get_name(exc.plugin) or "?"
            info = loaded.plugins.pop(plugin_name, None)
            loaded.manager.unregister(exc.plugin)
            if info is not None:
                loaded.failures.append(
                    PluginFailure(info.distribution, info.module, "registration", _error_text(exc), info.version)
                )
    return loaded
