"""The conformance kit for losses, loggers and callbacks: a third-party extras plugin passes it, and each broken
contract is caught with a message that says what to fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest
import torch
from click.testing import CliRunner
from torch.nn import functional

from mmfusion import Callback, CallbackConfig, Logger, LoggerConfig, Loss, LossConfig, MMFusionError
from mmfusion.cli import cli
from mmfusion.registry import get_registry
from mmfusion.testing import checks_for, parametrize_with_checks, run_checks

from ..plugin_fixtures import BAD_TASKS, EXTRAS, make_distribution, use_site


def _site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dist: str, module: str, source: str) -> Path:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    make_distribution(site, dist, {module: source}, {module: module}, version="0.1.0")
    use_site(site, monkeypatch)
    return site


@pytest.fixture
def extras(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    yield _site(tmp_path, monkeypatch, "mmfusion-extras", "mmfusion_extras", EXTRAS)
    get_registry.cache_clear()


def _failures(component: type) -> dict[str, str]:
    return {r.check: r.message for r in run_checks(component) if not r.passed}


# ----- losses -------------------------------------------------------------------------------------------------
class _CE(Loss):
    tasks = ("multiclass",)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return functional.cross_entropy(logits, targets, weight=self.class_weights)


def _loss(name: str, forward: Any = None, base: type = _CE) -> type[Loss]:
    config = type(f"{name}Config", (LossConfig,), {"__annotations__": {"type": Literal[name]}, "type": name})
    body: dict[str, Any] = {"name": name, "Config": config}
    if forward is not None:
        body["forward"] = forward
    return type(name, (base,), body)


def test_a_sound_loss_passes_and_the_kit_lists_its_checks() -> None:
    good = _loss("good_ce")
    assert [c.__name__ for c in checks_for(good)] == [
        "check_loss_config", "check_loss_declares_tasks", "check_loss_per_task", "check_loss_is_a_mean_over_rows",
        "check_loss_class_weights"]
    assert _failures(good) == {}


def test_a_summed_loss_is_told_to_take_the_mean() -> None:
    summed = _loss("summed", lambda self, logits, targets: functional.cross_entropy(logits, targets, reduction="sum"))
    message = _failures(summed)["check_loss_is_a_mean_over_rows"]
    assert "reduce with a mean over rows" in message


def test_a_loss_that_ignores_class_weights_is_caught() -> None:
    ignoring = _loss("ignoring", lambda self, logits, targets: functional.cross_entropy(logits, targets))
    assert "class_weights do not change the loss" in _failures(ignoring)["check_loss_class_weights"]


def test_a_loss_that_refuses_class_weights_with_an_mmfusion_error_passes() -> None:
    class Refusing(_CE):
        def __init__(self, config: Any, num_classes: int, class_weights: Any = None) -> None:
            if class_weights is not None:
                raise MMFusionError("refusing: this loss cannot weight classes")
            super().__init__(config, num_classes)

    refusing = _loss("refusing", base=Refusing)
    refusing.forward = lambda self, logits, targets: functional.cross_entropy(logits, targets)  # type: ignore
    assert "check_loss_class_weights" not in _failures(refusing)


def test_a_loss_with_the_wrong_sign_or_shape_is_caught() -> None:
    flipped = _loss("flipped", lambda self, logits, targets: -functional.cross_entropy(logits, targets))
    assert "not lower for logits that predict the targets" in _failures(flipped)["check_loss_per_task"]
    per_row = _loss("per_row", lambda self, logits, targets: functional.cross_entropy(logits, targets,
                                                                                       reduction="none"))
    assert "not a scalar tensor" in _failures(per_row)["check_loss_per_task"]


def test_every_declared_task_is_checked_with_its_targets() -> None:
    class AllTasks(Loss):
        tasks = ("multiclass", "multilabel", "binary")
        seen: list[tuple[tuple[int, ...], torch.dtype]] = []

        def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            type(self).seen.append((tuple(targets.shape), targets.dtype))
            if targets.is_floating_point():
                return functional.binary_cross_entropy_with_logits(logits, targets)
            if logits.shape[1] == 1:
                return functional.binary_cross_entropy_with_logits(logits[:, 0], targets.float())
            return functional.cross_entropy(logits, targets, weight=self.class_weights)

    every = _loss("every_task", base=AllTasks)
    check = dict(zip([c.__name__ for c in checks_for(every)], checks_for(every), strict=True))
    check["check_loss_per_task"](every)
    assert {shape_dtype for shape_dtype in AllTasks.seen} == {((6,), torch.int64), ((6, 5), torch.float32)}


@parametrize_with_checks([_loss("parametrized_ce")])
def test_parametrize_with_checks_takes_losses(component, check) -> None:  # type: ignore[no-untyped-def]
    check(component)


# ----- loggers ------------------------------------------------------------------------------------------------
class JsonlConfig(LoggerConfig):
    type: Literal["jsonl_test"] = "jsonl_test"


class AppendingJsonl(Logger):
    """Appends a line per epoch and ignores resume: the epoch logged before a crash shows twice."""

    name = "jsonl_test"
    Config = JsonlConfig

    def log_metrics(self, epoch: int, metrics: Any) -> None:
        with (self.run_dir / "epochs.jsonl").open("a") as out:
            out.write(json.dumps({**metrics, "epoch": epoch}) + "\n")

    @classmethod
    def conformance_history(cls, config: Any, run_dir: Path) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (Path(run_dir) / "epochs.jsonl").read_text().splitlines()]


def test_a_logger_that_duplicates_epochs_on_resume_is_caught() -> None:
    failures = _failures(AppendingJsonl)
    assert set(failures) == {"check_logger_resume"}
    assert "holds epochs [1, 2, 2, 3], expected [1, 2, 3] (each once)" in failures["check_logger_resume"]


def test_a_logger_whose_close_is_not_idempotent_is_caught() -> None:
    class ClosesOnce(AppendingJsonl):
        def close(self, failed: bool = False) -> None:
            if getattr(self, "closed", False):
                raise RuntimeError("already closed")
            self.closed = True

    message = _failures(ClosesOnce)["check_logger_events"]
    assert "raised RuntimeError: already closed" in message


# ----- callbacks ----------------------------------------------------------------------------------------------
class CountingConfig(CallbackConfig):
    type: Literal["counting"] = "counting"


class NotJson(Callback):
    name = "counting"
    Config = CountingConfig

    def state_dict(self) -> Any:
        return {"when": object()}


def test_a_callback_state_that_is_not_json_is_caught() -> None:
    message = {r.check: r.message for r in run_checks(NotJson) if r.check == "check_callback_state_dict"}
    assert "state_dict() is not JSON-ready" in message["check_callback_state_dict"]


@pytest.mark.slow
def test_a_callback_that_appends_to_a_file_without_state_is_caught() -> None:
    """The issue's case: files a callback writes run ahead of the checkpoint after a crash and --resume."""

    class Appending(Callback):
        name = "appending"
        Config = type("AppendingConfig", (CallbackConfig,), {"__annotations__": {"type": Literal["appending"]},
                                                             "type": "appending"})

        def on_epoch_end(self, ctx: Any, row: dict[str, Any]) -> None:
            with (ctx.run_dir / "epochs.txt").open("a") as out:
                out.write(f"{row['epoch']}\n")

    message = _failures(Appending)["check_callback_resume"]
    assert "epochs.txt, which the callback writes in the run directory, has 4 lines after a crash and --resume, " \
           "3 without the crash" in message


# ----- the reference extras plugin ----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.usefixtures("extras")
def test_the_extras_plugin_passes_the_kit_through_plugins_check() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--check", "--json", "--only", "poly1", "--only", "jsonl",
                                      "--only", "mmfusion-extras:grad_norm"])
    assert result.exit_code == 0, result.output
    checks = json.loads(result.stdout)["checks"]
    assert {(c["kind"], c["component"]) for c in checks} == {
        ("loss", "mmfusion-extras:poly1"), ("logger", "mmfusion-extras:jsonl"),
        ("callback", "mmfusion-extras:grad_norm")}
    assert all(c["passed"] for c in checks), [c for c in checks if not c["passed"]]
    assert {c["check"] for c in checks} >= {"check_loss_class_weights", "check_logger_resume",
                                            "check_callback_resume"}


@pytest.mark.usefixtures("extras")
def test_only_names_every_checked_kind_in_its_error() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--check", "--only", "poly"])
    assert result.exit_code == 2
    assert "--only poly: no component of that name the kit checks (kinds: encoder, fusion, head, loss, logger, " \
           "callback) — did you mean 'poly1'?" in result.output


def test_loss_tasks_are_checked_at_registration_naming_the_plugin(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _site(tmp_path, monkeypatch, "mmfusion-badtasks", "badtasks", BAD_TASKS)
    try:
        result = CliRunner().invoke(cli, ["plugins"])
    finally:
        get_registry.cache_clear()
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "plugin mmfusion-badtasks 0.1.0 (badtasks) failed at hook mmfusion_losses: TypoLoss.tasks names " \
           "'multiclas', which is not a task (the tasks: multiclass, multilabel, binary) — did you mean " \
           "'multiclass'?" in text
    assert "BareLoss.tasks is the string 'multiclass'; it must be a tuple of task names, e.g. tasks = " \
           "('multiclass',) (note the comma)" in text
