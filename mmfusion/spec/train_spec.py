"""The ``train:`` section: optimisation, loss, precision, schedule, checkpoints, loggers, callbacks and the
feature cache."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ..tasks.definitions import ALL_MONITORS
from .balance_spec import AuxUnimodalSpec, GracefulSpec, ModalityDropoutSpec, ModulationSpec, QualityGateSpec
from .components import CallbackSpec, LoggerSpec, LossSpec, registry_from

#: validation metrics of every task and the loss; which fit a task is checked with the data
Monitor = Literal[ALL_MONITORS]  # type: ignore[valid-type]

#: The logger that writes metrics.csv; always on (sweeps and resumed histories read that file).
CSV_LOGGER = "csv"


class EarlyStoppingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    patience: int = Field(3, ge=1, description="Epochs without improvement of the monitored metric before stopping.")
    min_delta: float = Field(0.0, ge=0, description="Smallest change that counts as an improvement.")


class TrainSpec(BaseModel):
    """How to fit the model. Every field has a default, so `train:` may be omitted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int | None = Field(None, ge=1, description="Default: 4 × batch_size.")
    lr: float = Field(
        1e-3, gt=0, description="Learning rate of new layers: fusion, head, randomly initialised encoders.")
    encoder_lr: float = Field(2e-5, gt=0, description="Learning rate of pretrained encoders that are not frozen "
                              "(the adapters of `peft:` encoders train at lr).")
    weight_decay: float = Field(0.01, ge=0)
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    warmup: float = Field(0.05, ge=0, lt=1, description="Fraction of the optimisation steps spent warming up.")
    grad_accum_steps: int = Field(1, ge=1, description="Batches whose gradients are summed before a step.")
    clip_grad_norm: float | None = Field(1.0, gt=0, description="Clip the gradient norm (null: no clipping).")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="auto: bf16 on GPUs and on CPUs with native bf16 (AMX / AVX512-BF16), else fp32. "
        "fp16 (with gradient scaling) needs CUDA.",
    )
    channels_last: bool = Field(True, description="channels_last memory format for image (CNN) encoders.")
    imbalance: Literal["none", "class_weights", "balanced_sampler"] = Field(
        "none", description="Counter class imbalance with weighted loss or a class-balanced sampler."
    )
    loss: LossSpec | None = Field(  # type: ignore[valid-type]
        None, description="The training objective, also used for val_loss: cross_entropy, focal, bce or a plugin's. "
        "Default: the task's (cross_entropy for multiclass, bce for multilabel and binary).")
    seed: int = 0
    monitor: Monitor | None = Field(
        None, description="Metric that picks the best checkpoint and drives early stopping. Default: the task's "
        "(val_macro_f1 for multiclass, val_micro_f1 for multilabel, val_auroc for binary).")
    early_stopping: EarlyStoppingSpec | None = None
    cache_features: bool = Field(
        True, description="Run frozen encoders once and cache their outputs on disk (keyed by encoder and data)."
    )
    cache_dir: str | None = Field(None, description="Feature cache folder (default: $MMFUSION_CACHE_DIR or "
                                                     "~/.cache/mmfusion).")
    feature_dtype: Literal["fp16", "fp32"] = Field(
        "fp16", description="How cached features are stored: fp16 takes half the disk and memory, fp32 keeps the "
        "encoders' outputs exactly; each has its own cache folder.")
    num_workers: int | None = Field(None, ge=0, description="Data-loading processes (default: automatic).")
    drift: bool | Literal["auto"] = Field(
        "auto", description="Keep a summary of each input's pooled encoder vectors of the training rows in the run "
        "(drift.safetensors), so that evaluate and predict say when evaluated rows' inputs look unlike the training "
        "ones (docs/cli.md, 'Drift'). It costs one inference pass over drift_rows training rows after training. "
        "auto: when no encoder runs in the loop (every input cached, the pass is nearly free).")
    drift_rows: int = Field(4096, ge=8, description="Training rows sampled for the drift summary (train.drift).")
    threads: int | Literal["auto"] = Field(
        "auto", description="CPU intra-op threads while training (the `--threads` flag overrides it). auto: one "
        "thread for a tiny step on cached features (trainable parameters × batch size under 4M), else the cores "
        "not busy with other processes (a thread on a busy core stalls every op), chosen when the loop starts "
        "and, on cached features, again at every epoch's start; on GPUs torch's default. See docs/spec.md, "
        "'Threads'.")
    compile: bool = Field(
        False, description="Train through torch.compile. It pays for its compile time only on long runs with "
        "encoders in the loop (see benchmarks/README.md); on the CPU it needs a C++ compiler.")
    loggers: list[LoggerSpec] = Field(  # type: ignore[valid-type]
        [CSV_LOGGER], validate_default=True,
        description="Where per-epoch metrics and the final report go: csv (metrics.csv, always on), tensorboard, "
        "mlflow or a plugin's.")
    callbacks: list[CallbackSpec] = Field(  # type: ignore[valid-type]
        [], description="Training callbacks from plugins, run in this order after the built-in ones that observe "
        "and before those that write the run directory.")
    aux_unimodal: AuxUnimodalSpec | None = Field(
        None, description="Modality imbalance: a classifier per input trained beside the fused head, reported per "
        "input, optionally mixed with the fused logits at inference (see docs/spec.md, 'Balanced training').")
    modulation: ModulationSpec | None = Field(
        None, description="Modality imbalance: OGM-GE gradient modulation of the dominant input's parameters.")
    modality_dropout: ModalityDropoutSpec | None = Field(
        None, description="Drop inputs of training rows at random (any fusion): one rate or a rate per input, "
        "with an optional linear warm-up over epochs.")
    graceful: GracefulSpec | Literal["auto"] | bool | None = Field(  # a bool never stays: see below
        "auto", description="Graceful degradation: every training row is also trained with each input alone and "
        "each input left out, so a missing input leaves about what the others give alone (true: the defaults). "
        "auto: on for fusions meant for missing inputs (missing_modality), off for the others; false or null: off.")

    calibration: Literal["temperature"] | None = Field(
        None, description="Calibrate the probabilities after training: temperature divides the logits by a "
        "temperature fitted on the validation rows (one for multiclass, one per label for multilabel and binary), "
        "saved in the run (calibration.json) and applied by evaluate, predict and the exports. It never changes a "
        "multiclass prediction (thresholds are tuned afterwards); it needs validation data. null: the scores as "
        "trained.")

    @field_validator("graceful", "quality_gate", mode="before")
    @classmethod
    def _switches(cls, value: Any) -> Any:
        """``graceful: false`` / ``quality_gate: false`` are off (null); ``true`` is the defaults."""
        return None if value is False else {} if value is True else value
    quality_gate: QualityGateSpec | bool | None = Field(  # a bool never stays: see below
        None, description="At inference, an input whose features lie beyond factor × the training range (the "
        "drift reference, fitted after training) is treated as missing in that row (true: factor 2).")

    @field_validator("loggers")
    @classmethod
    def _csv_always(cls, loggers: list, info: ValidationInfo) -> list:
        """metrics.csv is part of every run directory: the csv logger is added when the list lacks it."""
        if any(getattr(logger, "type", None) == CSV_LOGGER for logger in loggers):
            return loggers
        return [registry_from(info).get("logger", CSV_LOGGER).Config(), *loggers]

    @field_validator("threads")
    @classmethod
    def _threads_at_least_one(cls, threads: int | str) -> int | str:
        if isinstance(threads, int) and threads < 1:
            raise ValueError(f"threads must be at least 1 (got {threads}), or auto")
        return threads
