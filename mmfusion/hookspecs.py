"""The plugin contract: the hooks a plugin may implement.

A plugin is a module (or object) with functions decorated by :data:`mmfusion.hookimpl` and named
after the hooks below. Third-party plugins are found through the ``mmfusion`` entry-point group;
the built-in components are registered through exactly the same hooks (see
:mod:`mmfusion.default_plugins`). Every hook takes no arguments and returns a list of component
*classes*; mmfusion instantiates them from a validated spec.

Hooks are called with keyword arguments only, so new optional arguments can be added without
breaking existing plugins.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "mmfusion"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def mmfusion_modalities() -> list[type]:
    """Return :class:`mmfusion.Modality` subclasses: kinds of raw input (``image``, ``text``, ...).

    A modality says how one sample's value is read from data cells (an image path becomes a PIL
    image, a text cell a string) and when that value is absent. Add one to bring a new kind of
    input (tabular columns, audio files) to every dataset without touching the core.
    """


@hookspec
def mmfusion_encoders() -> list[type]:
    """Return :class:`mmfusion.Encoder` subclasses, each with a unique ``name`` and a ``Config``.

    An encoder turns the raw values of one modality into a pooled vector and, where it can, a token
    sequence with its padding mask.
    """


@hookspec
def mmfusion_fusions() -> list[type]:
    """Return :class:`mmfusion.Fusion` subclasses.

    A fusion combines the encoder outputs of all modalities into one vector per sample, honouring
    the per-sample ``present`` masks.
    """


@hookspec
def mmfusion_heads() -> list[type]:
    """Return :class:`mmfusion.Classifier` subclasses: classifier heads mapping the fused vector to logits."""


@hookspec
def mmfusion_corruptions() -> list[type]:
    """Return :class:`mmfusion.Corruption` subclasses: ways to degrade one modality's raw values.

    ``mmfusion evaluate --corrupt`` and ablation sweeps apply them at several intensities to
    measure robustness curves (accuracy against corruption intensity).
    """


@hookspec
def mmfusion_datasets() -> list[type]:
    """Return :class:`mmfusion.DatasetSource` subclasses: named sources of labelled tables.

    A dataset source yields pandas DataFrames (train, and optionally validation and test) whose
    columns the spec's ``data`` section maps to modalities.
    """


@hookspec
def mmfusion_losses() -> list[type]:
    """Return :class:`mmfusion.Loss` subclasses: training objectives chosen by ``train.loss``.

    A loss is built with ``(config, num_classes, class_weights=None)`` and maps logits and class
    targets to a scalar; the same loss gives the validation loss. Its ``tasks`` (required) name the
    tasks it serves, and ``multiclass_scores`` (softmax or sigmoid) how multiclass logits become scores.
    """


@hookspec
def mmfusion_loggers() -> list[type]:
    """Return :class:`mmfusion.Logger` subclasses: where ``train.loggers`` send a run's metrics.

    A logger receives the spec, every epoch's metrics and the final report (e.g. a CSV file,
    TensorBoard event files, an MLflow run).
    """


@hookspec
def mmfusion_callbacks() -> list[type]:
    """Return :class:`mmfusion.Callback` subclasses: code run at points of the training loop.

    A callback runs at fixed points of the loop (fit start, epoch start/end, batch end, validation
    end, fit end, exception), sees the fit as a :class:`mmfusion.FitState`, may stop training, and
    may keep state across ``--resume``. One with a ``Config`` runs where ``train.callbacks`` names
    it; one without runs in every fit (the loop's own steps are such callbacks).
    """
