"""Calling every callback's hook in order, with errors from plugin callbacks named."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from ...errors import MMFusionError, PluginError
from ...interfaces.callback import STAGES, Callback, FitState

T = TypeVar("T")


def plugin_call(what: str, failure: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` (a plugin's class or bound method), any error but mmfusion's (or Ctrl-C) named as
    the plugin's: ``{what} (module.Class) {failure}: Error: message``."""
    try:
        return fn(*args, **kwargs)
    except (MMFusionError, KeyboardInterrupt):
        raise
    except Exception as exc:
        cls = fn if isinstance(fn, type) else type(fn.__self__)  # type: ignore[attr-defined]
        raise PluginError(f"{what} ({cls.__module__}.{cls.__qualname__}) {failure}: {type(exc).__name__}: {exc}"
                          ) from exc


def _overrides(callback: Callback, hook: str) -> bool:
    return getattr(type(callback), hook) is not getattr(Callback, hook)


def _placed(callback: Callback) -> tuple[int, int]:
    cls = type(callback)  # class attributes: an instance's own ``stage`` or ``stage_order`` does not count
    if cls.stage not in STAGES:
        raise PluginError(f"callback '{callback.state_key}' ({cls.__module__}.{cls.__qualname__}) has stage "
                          f"{cls.stage!r}; choose one of {', '.join(STAGES)}")
    return STAGES.index(cls.stage), cls.stage_order


class CallbackList:
    """The callbacks of one fit, in the order their hooks run: by :attr:`Callback.stage`, then ``stage_order``,
    then as given. ``finish`` callbacks come last, except at ``on_fit_end``, where they run first so that every
    other callback's ``on_fit_end`` sees the finished run. Errors of ``named`` ones (``train.callbacks``) are
    reported as the plugin's."""

    def __init__(self, callbacks: Sequence[Callback], named: Sequence[Callback] = ()) -> None:
        ordered = sorted(callbacks, key=_placed)
        self.callbacks = [c for c in ordered if type(c).stage != "finish"]
        self.finishers = [c for c in ordered if type(c).stage == "finish"]
        self._named = {id(c) for c in named}

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.callbacks + self.finishers)

    def _call(self, callback: Callback, hook: str, *args: Any) -> None:
        if id(callback) not in self._named:
            getattr(callback, hook)(*args)
        else:
            plugin_call(f"train.callbacks: callback '{callback.state_key}'", f"failed in {hook}",
                        getattr(callback, hook), *args)

    def each(self, hook: str, ctx: FitState, *args: Any) -> None:
        """Every callback's ``hook``, in order (``on_fit_start``, ``on_epoch_start``, ``on_epoch_end`` ...)."""
        for callback in self:
            self._call(callback, hook, ctx, *args)

    def batch_hook(self, ctx: FitState, hook: str) -> Callable[..., None] | None:
        """A function for the training step calling every callback's per-batch ``hook`` (``on_batch_end``,
        ``on_after_backward``) in order, or None when no callback overrides it (the step then skips the call)."""
        listeners = [c for c in self if _overrides(c, hook)]
        if not listeners:
            return None

        def call(*args: Any) -> None:
            for callback in listeners:
                self._call(callback, hook, ctx, *args)

        return call

    def on_fit_end(self, ctx: FitState, result: Callable[[], Any]) -> None:
        """``result()`` builds the FitResult anew for each callback: it holds what the ones before it set."""
        for callback in self.finishers + self.callbacks:
            self._call(callback, "on_fit_end", ctx, result())

    def on_exception(self, ctx: FitState, error: BaseException) -> None:
        """Every callback hears of the error; one failing here is a warning, so the original error is raised."""
        for callback in self:
            try:
                callback.on_exception(ctx, error)
            except Exception as exc:  # noqa: BLE001 - the training error matters more
                ctx.reporter.warn(f"callback {callback.state_key} failed while handling an error: "
                                  f"{type(exc).__name__}: {exc}")

    # ----- state that survives --resume ----------------------------------------------------------
    def state_dicts(self) -> dict[str, Any]:
        """Each stateful callback's ``state_dict()``, by :attr:`Callback.state_key` (numbered when repeated)."""
        return {key: dict(state) for key, callback in self._keyed() if (state := callback.state_dict()) is not None}

    def load_state_dicts(self, states: Mapping[str, Any]) -> None:
        for key, callback in self._keyed():
            if key in states:
                callback.load_state_dict(states[key])

    def _keyed(self) -> list[tuple[str, Callback]]:
        seen: dict[str, int] = {}
        keyed = []
        for callback in self:
            key = callback.state_key
            seen[key] = seen.get(key, 0) + 1
            keyed.append((key if seen[key] == 1 else f"{key}#{seen[key]}", callback))
        return keyed
