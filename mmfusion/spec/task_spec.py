"""Fitting the ``train:`` settings to the task: the defaults it implies and the options it rules out.

``data.task`` may be left out and found in the data (a list-valued label column is multilabel), so the
checks run twice: when the spec is loaded, for a task the spec names (errors with file and line), and
when training starts, for the task the data implies. :meth:`Spec.for_task` then fills in what the spec left
to the task, and that complete spec is what a run directory keeps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..tasks.definitions import DEFAULT_LOSS, DEFAULT_MONITOR, monitors

if TYPE_CHECKING:
    from ..registry import Registry
    from .train_spec import TrainSpec

Problem = tuple[tuple[str, ...], str]


def task_problems(train: TrainSpec, task: str, registry: Registry) -> list[Problem]:
    """What in ``train`` does not fit ``task``: (spec path, message) pairs, empty when everything fits."""
    problems: list[Problem] = []
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
