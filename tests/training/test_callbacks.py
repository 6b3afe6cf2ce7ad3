"""The loop's own steps are callbacks registered through the plugin hook, placed by the stage their class declares;
callbacks see the fit through the narrow FitState protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest

from mmfusion import Callback, CallbackConfig, FitState, PluginError, SpecError, hookimpl
from mmfusion.registry import load_registry
from mmfusion.spec import load_spec
from mmfusion.training.callbacks.base import CallbackList
from mmfusion.training.context import TrainingContext
from mmfusion.training.trainer import Trainer

from ..conftest import xor_spec
from .interrupt import StopAfterEpochs

#: the order the loop's own steps run in: before the spec's and fit()'s callbacks, after them, and at the end
BEFORE = ["resume", "progress", "early_stopping"]
AFTER = ["loggers", "checkpoint"]
FINISH = ["training_curves", "best_weights", "drift_reference", "calibration", "thresholds", "test_report", "summary"]


class Everywhere(Callback):
    """A third party's always-on callback: no Config, so no spec names it and every fit runs it."""

    name = "everywhere"


class Named(Callback):
    name = "named"

    class Config(CallbackConfig):
        type: Literal["named"] = "named"


class Plugin:
    @hookimpl
    def mmfusion_callbacks(self) -> list[type]:
        return [Everywhere, Named]


class Python(Callback):
    """Passed to fit(callbacks=...)."""


def _names(callbacks: list[Callback]) -> list[str]:
    return [c.state_key for c in callbacks]


def test_the_trainer_takes_the_loops_steps_from_the_registry_and_places_them_by_stage(
        xor_data: Path, tiny_bert: Path, feature_cache: Path, tmp_path: Path) -> None:
    registry = load_registry(autoload=False, extra=[Plugin()])
    assert registry.failures == []
    assert registry.names("callback") == ["named", "stop_at"]  # the always-on ones are not for specs
    spec = load_spec(xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, extra="  callbacks: [named]\n"),
                     registry=registry)
    stop = StopAfterEpochs(1)
    callbacks = Trainer(spec, tmp_path / "run", progress=False, registry=registry,
                        callbacks=[stop, Python()])._callbacks()
    assert _names(callbacks.callbacks) == [*BEFORE, "everywhere", "named", "Python", *AFTER, "StopAfterEpochs"]
    assert _names(callbacks.finishers) == FINISH


def test_a_fit_without_the_loops_own_steps_stops_with_the_reason(xor_data: Path, tiny_bert: Path,
                                                                 feature_cache: Path, tmp_path: Path) -> None:
    from mmfusion.plugins import PluginFailure
    from mmfusion.registry import Registry
    from mmfusion.training.trainer import LOOP_STEPS

    loaded = load_registry(autoload=False)
    broken = Registry([e for e in loaded.entries() if e.plugin.module != LOOP_STEPS], loaded.plugins,
                      [PluginFailure("mmfusion", LOOP_STEPS, "import", "ImportError: boom")])
    spec = load_spec(xor_spec(tmp_path, xor_data, tiny_bert, feature_cache), registry=broken)
    with pytest.raises(PluginError, match=r"the training loop's own steps \(mmfusion\.default_plugins\.callbacks\) "
                                          "did not load: ImportError: boom"):
        Trainer(spec, tmp_path / "run", progress=False, registry=broken)._callbacks()


def test_a_plugins_always_on_callback_that_fails_is_named_as_the_plugins(
        xor_data: Path, tiny_bert: Path, feature_cache: Path, tmp_path: Path) -> None:
    class Fragile(Callback):
        name = "fragile"

        def __init__(self) -> None:
            raise RuntimeError("no licence")

    class FragilePlugin:
        @hookimpl
        def mmfusion_callbacks(self) -> list[type]:
            return [Fragile]

    registry = load_registry(autoload=False, extra=[FragilePlugin()])
    spec = load_spec(xor_spec(tmp_path, xor_data, tiny_bert, feature_cache), registry=registry)
    with pytest.raises(PluginError, match=r"callback 'fragile' of .*:fragile \(.*Fragile\) could not be built: "
                                          "RuntimeError: no licence"):
        Trainer(spec, tmp_path / "run", progress=False, registry=registry)._callbacks()


def test_the_loops_steps_cannot_be_listed_in_the_spec(tiny_bert: Path) -> None:
    spec = {"model": {"encoders": {"text": {"type": "hf_text", "path": str(tiny_bert)}}, "fusion": "concat"},
            "train": {"callbacks": ["stop_at", "checkpoint"]}}
    with pytest.raises(SpecError, match=r"train\.callbacks\[1\]\.type: callback 'checkpoint' is built in and runs in "
                                        "every fit: remove it from the list"):
        load_spec(spec)


def test_a_callback_with_an_unknown_stage_is_named() -> None:
    class Misplaced(Callback):
        name = "misplaced"
        stage = "middle"  # type: ignore[assignment]

    with pytest.raises(PluginError, match=r"callback 'misplaced' \(.*Misplaced\) has stage 'middle'; choose one of "
                                          "before, main, after, finish"):
        CallbackList([Misplaced()])


def test_finish_callbacks_end_first_and_each_sees_what_the_ones_before_it_set() -> None:
    seen: list[Any] = []

    class Finisher(Callback):
        stage = "finish"

        def on_fit_end(self, ctx: FitState, result: Any) -> None:
            ctx.summary["done"] = True

    class Watcher(Callback):
        def on_fit_end(self, ctx: FitState, result: Any) -> None:
            seen.append(result)

    class State:
        summary: dict[str, Any] = {}

    state = State()
    CallbackList([Watcher(), Finisher()]).on_fit_end(state, lambda: dict(state.summary))  # type: ignore[arg-type]
    assert seen == [{"done": True}]


def test_the_training_context_provides_everything_the_protocol_promises() -> None:
    promised = {name for name in vars(FitState) if not name.startswith("_")} | set(FitState.__annotations__)
    fields = set(TrainingContext.__dataclass_fields__)
    assert sorted(name for name in promised if name not in fields and not hasattr(TrainingContext, name)) == []
