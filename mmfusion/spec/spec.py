"""The whole spec: the top-level sections of a spec file, and the checks of ``train:`` against the task."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, ValidationInfo, model_validator

from ..errors import SpecError
from ..registry import Registry
from ..tasks.definitions import DEFAULT_LOSS, DEFAULT_MONITOR, monitors
from .balance_spec import unknown_inputs
from .components import error_details, registry_from
from .data_spec import DataSpec
from .model_spec import ModelSpec
from .train_spec import TrainSpec
from .yaml_file import Loc, located

_Problem = tuple[tuple[str, ...], str]


class Spec(BaseModel):
    """A complete mmfusion spec. Each top-level key is one section model.

    Only ``model`` is required (``mmfusion build`` needs nothing else); training needs ``data``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: ModelSpec = Field(description="Encoders, fusion and head.")
    data: DataSpec | None = Field(None, description="Tables, columns, labels and splits (needed to train).")
    train: TrainSpec = Field(default_factory=TrainSpec, description="Optimisation settings.")
    #: the file the spec was read from and each YAML path's line (set by the loader; kept by ``model_copy``)
    _origin: tuple[str, dict[Loc, int]] | None = PrivateAttr(None)

    def __eq__(self, other: object) -> bool:
        """Equal sections are equal specs, wherever each was read from."""
        return type(other) is type(self) and self.__dict__ == other.__dict__

    @model_validator(mode="after")
    def _train_names_inputs(self) -> Spec:
        """Per-input ``train`` settings name inputs of ``model.encoders``."""
        _refuse("unknown_input", unknown_inputs(self.train, list(self.model.encoders)))
        return self

    @model_validator(mode="after")
    def _train_fits_task(self, info: ValidationInfo) -> Spec:
        """A task the spec names is checked against ``train:`` now (one inferred from the data: at training)."""
        if self.data is not None and self.data.task is not None:
            _refuse("task_mismatch", task_problems(self.train, self.data.task, registry_from(info)))
        return self

    def for_task(self, task: str, registry: Registry, *, why: str = "") -> Spec:
        """This spec with ``data.task``, ``train.loss`` and ``train.monitor`` set for ``task``; ``why`` says how the
        task was found, for messages (e.g. "the label column holds lists").

        Raises:
            SpecError: a ``train`` setting does not fit the task (every problem listed, with its spec path).
        """
        problems = task_problems(self.train, task, registry)
        if problems:
            reason = f" ({why})" if why else ""
            source, lines = self._origin or (None, {})
            raise SpecError("\n".join(f"{located(source, lines, loc) + ': ' if source else ''}{'.'.join(loc)}: "
                                      f"{message} — the task is {task}{reason}" for loc, message in problems))
        update: dict[str, object] = {}
        if self.train.loss is None:
            update["loss"] = registry.get("loss", DEFAULT_LOSS[task]).Config()
        if self.train.monitor is None:
            update["monitor"] = DEFAULT_MONITOR[task]
        data = self.data.model_copy(update={"task": task}) if self.data is not None else None
        return self.model_copy(update={"train": self.train.model_copy(update=update), "data": data})


def _refuse(kind: str, problems: list[_Problem]) -> None:
    if problems:
        raise ValidationError.from_exception_data("Spec", [error_details(loc, kind, msg) for loc, msg in problems])


def task_problems(train: TrainSpec, task: str, registry: Registry) -> list[_Problem]:
    """What in ``train`` does not fit ``task``: (spec path, message) pairs, empty when everything fits.

    ``data.task`` may be left out and found in the data (a list-valued label column is multilabel), so this runs
    twice: when the spec is loaded, for a task the spec names (errors with file and line), and when training
    starts, for the task the data implies (:meth:`Spec.for_task`).
    """
    problems: list[_Problem] = []
    if train.monitor is not None and train.monitor not in monitors(task):
        problems.append((("train", "monitor"), f"{train.monitor} is not a metric of {task} data; choose one of "
                         f"{', '.join(monitors(task))} (or leave it out: {DEFAULT_MONITOR[task]})"))
    if train.loss is not None:
        handled = registry.get("loss", train.loss.component_name).tasks
        if task not in handled:
            problems.append((("train", "loss"), f"loss '{train.loss.type}' handles {' and '.join(handled)} data, "
                             f"not {task}: use {DEFAULT_LOSS[task]} (or leave train.loss out: "
                             f"{DEFAULT_LOSS[task]} is the default for {task})"))
    if train.imbalance == "class_weights" and task != "multiclass":
        problems.append((("train", "imbalance"), f"class_weights weights the classes of single-label data; for "
                         f"{task} data weight the positives instead: train.loss: {{type: bce, pos_weight: auto}} "
                         "(negatives / positives of each label in the training data)"))
    if train.imbalance == "balanced_sampler" and task == "multilabel":
        problems.append((("train", "imbalance"), "balanced_sampler draws rows by their one class, but multilabel "
                         "rows have any number of labels: use train.loss: {type: bce, pos_weight: auto} instead"))
    return problems
