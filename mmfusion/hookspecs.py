"""The plugin contract: the hooks a plugin may implement.

A plugin is a module (or object) with functions decorated by :data:`mmfusion.hookimpl` and named
after the hooks below. Third-party plugins are found through the ``mmfusion`` entry-point group;
the built-in components are registered through exactly the same hooks (see
:mod:`mmfusion.default_plugins`). Every hook takes no arguments and returns a list of component
*classes*; mmfusion instantiates them from a validated spec.

Hooks are called with keyword arguments only, so new optional arguments can be added without
breaking existing plugins. docs/plugins/hooks.md describes what each kind of component implements.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "mmfusion"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def mmfusion_modalities() -> list[type]:
    """Return :class:`mmfusion.Modality` subclasses: kinds of raw input (``image``, ``text``, ...), each saying
    how one sample's value is read from data cells and when it is absent."""


@hookspec
def mmfusion_encoders() -> list[type]:
    """Return :class:`mmfusion.Encoder` subclasses: one modality's raw values → a pooled vector and, where
    they can, a token sequence with its padding mask."""


@hookspec
def mmfusion_fusions() -> list[type]:
    """Return :class:`mmfusion.Fusion` subclasses: all modalities' encoder outputs → one vector per sample,
    honouring the per-sample ``present`` masks."""


@hookspec
def mmfusion_heads() -> list[type]:
    """Return :class:`mmfusion.Classifier` subclasses: classifier heads mapping the fused vector to logits."""


@hookspec
def mmfusion_corruptions() -> list[type]:
    """Return :class:`mmfusion.Corruption` subclasses: ways to degrade one modality's raw values at an
    intensity, for robustness curves (``mmfusion evaluate --corrupt``, ablation sweeps)."""


@hookspec
def mmfusion_datasets() -> list[type]:
    """Return :class:`mmfusion.DatasetSource` subclasses: named sources of labelled tables (train, and
    optionally validation and test) whose columns the spec's ``data`` section maps to modalities."""


@hookspec
def mmfusion_losses() -> list[type]:
    """Return :class:`mmfusion.Loss` subclasses: training objectives chosen by ``train.loss``, built with
    ``(config, num_classes, class_weights=None)``; each names its ``tasks`` (required) and its
    ``multiclass_scores`` (softmax or sigmoid)."""


@hookspec
def mmfusion_loggers() -> list[type]:
    """Return :class:`mmfusion.Logger` subclasses: where ``train.loggers`` send a run's spec, every epoch's
    metrics and the final report (a CSV file, TensorBoard, MLflow)."""


@hookspec
def mmfusion_callbacks() -> list[type]:
    """Return :class:`mmfusion.Callback` subclasses: code run at points of the training loop. One with a
    ``Config`` runs where ``train.callbacks`` names it; one without runs in every fit (the loop's own steps)."""
