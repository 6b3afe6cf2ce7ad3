"""Fitting a spec on data: the run directory, the epoch loop, best/last checkpoints, early stopping."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..builder import build_model
from ..data.labels import LabelSet
from ..data.pipeline import DataPipeline, build_pipeline
from ..data.tables import load_prepared_tables
from ..devices import resolve_device
from ..errors import MMFusionError
from ..evaluation.metrics import summary_metrics
from ..interfaces.dataset import DatasetTables
from ..io import ensure_folder, read_json, write_json_atomic, write_safetensors_atomic, write_text_atomic
from ..progress import Reporter
from ..registry import Registry
from ..runlock import RunLock
from ..runs import RunPaths
from ..spec.loader import spec_to_yaml
from ..spec.spec import Spec
from ..summary import summarize
from .checkpoint import POINTER, load_checkpoint, save_checkpoint
from .distributed import from_environment, shard
from .history import write_history
from .optim import make_optimizer, make_scheduler
from .precision import resolve_precision
from .steps import predict_batches, train_epoch
from .test_report import write_test_report


@dataclass
class LoopState:
    """What the epoch loop carries from epoch to epoch (and through a checkpoint)."""

    has_validation: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    best: float | None = None
    best_epoch: int = 0
    stale: int = 0
    next_epoch: int = 1


@dataclass
class _Parts:
    """The objects one epoch works with."""

    model: Any
    pipeline: DataPipeline
    channels_last: list[str]
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    loss_fn: torch.nn.Module
    trained: Any = None  # the module the training forward runs through (DDP-wrapped under torchrun)


class TrainingInterrupted(MMFusionError):
    """Training stopped on request after a checkpoint (``stop_after_epochs``); ``--resume`` continues it."""


@dataclass
class FitResult:
    """What :func:`fit` returns: where the run is and how it went."""

    run_dir: Path
    history: list[dict[str, Any]]
    best_epoch: int
    best_metric: float | None
    test_metrics: dict[str, Any] | None
    summary: dict[str, Any] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _better(value: float, best: float | None, mode: str, min_delta: float) -> bool:
    if best is None:
        return True
    return value > best + min_delta if mode == "max" else value < best - min_delta


class Trainer:
    """Trains the model of a spec and writes a run directory (see :mod:`mmfusion.runs`)."""

    def __init__(self, spec: Spec, out: str | Path, *, device: str = "auto", resume: bool = False,
                 progress: bool = True, tables: DatasetTables | None = None, registry: Registry | None = None,
                 stop_after_epochs: int | None = None) -> None:
        if spec.data is None:
            raise MMFusionError("the spec has no `data:` section; training needs one (see docs/spec.md)")
        self.spec = spec
        self.paths = RunPaths(Path(out))
        self.dist, device = from_environment(device)  # under torchrun: join the process group
        self.device = resolve_device(device)
        self.precision = resolve_precision(spec.train.precision, self.device)
        self.resume = resume
        self.reporter = Reporter(progress and self.dist.is_main)
        self.tables = tables
        self.registry = registry
        self.stop_after_epochs = stop_after_epochs
        self._lock: RunLock | None = None

    # ----- set-up --------------------------------------------------------------------------------
    def _check_run_dir(self) -> None:
        pointer = self.paths.checkpoints / POINTER
        if not self.resume or self.paths.root.exists():
            ensure_folder(self.paths.root, "run directory")
            self._lock_run_dir()
        if self.resume and not pointer.exists():
            raise MMFusionError(f"nothing to resume in {self.paths.root}: no finished epoch "
                                f"({pointer} is missing); start without --resume")
        if not self.resume and (pointer.exists() or self.paths.weights.exists()):
            raise MMFusionError(f"{self.paths.root} already holds a run; continue it with --resume or choose "
                                "another --out")

    def _lock_run_dir(self) -> None:
        """One writer per run directory: rank 0 holds RUN/.lock for every process of the job until fit ends."""
        problem = None
        if self.dist.is_main:
            try:
                self._lock = RunLock.acquire(self.paths.root, warn=self.reporter.warn)
            except MMFusionError as exc:
                problem = exc
        message = self.dist.gather(str(problem) if problem else None)[0]  # the other ranks stop with rank 0
        if problem is not None:
            raise problem
        if message:
            raise MMFusionError(message)

    def _labels(self, prepared) -> LabelSet:  # type: ignore[no-untyped-def]
        data = self.spec.data
        labels = LabelSet.from_training_data(prepared.tables["train"], prepared.label_column, given=data.labels,
                                             source_order=prepared.labels, where=prepared.names["train"])
        if self.resume and self.paths.labels.exists() and read_json(self.paths.labels) != labels.names:
            raise MMFusionError(f"cannot resume: the labels of the data differ from {self.paths.labels}")
        return labels

    # ----- the run -------------------------------------------------------------------------------
    def fit(self) -> FitResult:
        try:
            return self._fit()
        finally:
            if self._lock is not None:  # also on errors and Ctrl-C
                self._lock.release()
                self._lock = None
            self.dist.shutdown()

    def _fit(self) -> FitResult:
        spec, train_cfg, reporter, main = self.spec, self.spec.train, self.reporter, self.dist.is_main
        started = time.perf_counter()
        self._check_run_dir()
        self.dist.barrier()  # every process has checked the run directory before rank 0 writes to it
        seed_everything(train_cfg.seed)
        prepared = load_prepared_tables(spec.data, self.tables, self.registry)
        for note in prepared.notes:
            reporter.log(f"note: {note}")
        labels = self._labels(prepared)
        model = build_model(spec, len(labels), registry=self.registry).to(self.device)
        channels_last = [m for m, e in model.encoders.items() if train_cfg.channels_last and e.prefers_channels_last]
        for m in channels_last:
            model.encoders[m].to(memory_format=torch.channels_last)
        if self.precision.reason and self.precision.name == "bf16" and self.device.type == "cpu" \
                and "emulated" in self.precision.reason:
            reporter.warn(self.precision.reason)
        reporter.log(f"device {self.device}, precision {self.precision.name} ({self.precision.reason or 'as asked'})")
        extract_started = time.perf_counter()
        if not main:
            self.dist.barrier()  # rank 0 fills the feature cache first; the others then read it
        pipeline = build_pipeline(
            model, spec.data, prepared, labels, cache=train_cfg.cache_features,
            cache_dir=Path(train_cfg.cache_dir) if train_cfg.cache_dir else None, device=self.device,
            autocast=self.precision.autocast, channels_last=bool(channels_last), num_workers=train_cfg.num_workers,
            reporter=reporter, registry=self.registry, fit_split="train")
        if main:
            self.dist.barrier()
        prepare_seconds = time.perf_counter() - extract_started
        if main:
            self._write_run_files(model, pipeline, prepared, labels)
        state = self._loop(model, pipeline, channels_last)
        history, best_epoch, best = state.history, state.best_epoch, state.best
        self.dist.barrier()
        from safetensors.torch import load_file

        if self.paths.weights.exists():
            model.load_state_dict(load_file(str(self.paths.weights)))
        test_metrics = None
        if main and "test" in pipeline.tables and pipeline.tables["test"].labels is not None:
            test_metrics = write_test_report(model, pipeline, self.paths, labels.names, device=self.device,
                                             autocast=self.precision.autocast, channels_last=channels_last,
                                             batch_size=train_cfg.eval_batch_size or 4 * train_cfg.batch_size,
                                             reporter=reporter)
        summary = self._summary(model, pipeline, history, best_epoch, best, test_metrics, prepared.notes,
                                prepare_seconds, time.perf_counter() - started)
        if main:
            write_json_atomic(self.paths.summary, summary)
            reporter.log(f"run written to {self.paths.root}")
        self.dist.barrier()
        return FitResult(self.paths.root, history, best_epoch, best, test_metrics, summary)

    def _write_run_files(self, model, pipeline: DataPipeline, prepared, labels: LabelSet) -> None:  # type: ignore
        """spec.yaml, labels.json, inputs.json, preprocessing.json: what evaluate/predict need besides weights."""
        self.paths.root.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.paths.spec, spec_to_yaml(self.spec))
        write_json_atomic(self.paths.labels, labels.names)
        learned = {m: e.preprocessing_state() for m, e in model.encoders.items() if e.preprocessing_state()}
        if learned:
            write_json_atomic(self.paths.preprocessing, learned)
        write_json_atomic(self.paths.inputs, {
            "columns": pipeline.columns, "label_column": prepared.label_column,
            "modalities": {m: e.modality for m, e in model.encoders.items()}})

    def _loop(self, model, pipeline: DataPipeline, channels_last: list[str]) -> LoopState:  # type: ignore
        train_cfg, reporter = self.spec.train, self.reporter
        rows = len(shard(torch.arange(len(pipeline.tables["train"])), self.dist))  # this process's share
        batches = (rows + train_cfg.batch_size - 1) // train_cfg.batch_size
        steps_per_epoch = (batches + train_cfg.grad_accum_steps - 1) // train_cfg.grad_accum_steps
        optimizer = make_optimizer(model, train_cfg, self.device)
        scheduler = make_scheduler(optimizer, train_cfg, steps_per_epoch * train_cfg.epochs)
        scaler = self.precision.grad_scaler()
        weight = None
        if train_cfg.imbalance == "class_weights":
            counts = torch.bincount(torch.from_numpy(pipeline.tables["train"].labels),
                                    minlength=len(pipeline.labels)).float()
            weight = (counts.sum() / (len(counts) * counts.clamp(min=1))).to(self.device)
        trained = model
        if self.dist.enabled:  # gradients averaged across processes; unused: e.g. placeholders of present inputs
            from torch.nn.parallel import DistributedDataParallel

            trained = DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda"
                                              else None, find_unused_parameters=True)
        parts = _Parts(model, pipeline, channels_last, optimizer, scheduler, scaler,
                       torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=train_cfg.label_smoothing), trained)
        state = LoopState(has_validation="validation" in pipeline.tables
                          and pipeline.tables["validation"].labels is not None)
        if not state.has_validation:
            reporter.warn("no validation data: the last epoch's weights are kept and early stopping is off")
        if self.resume:
            saved = load_checkpoint(self.paths.checkpoints, model=model, optimizer=optimizer, scheduler=scheduler,
                                    scaler=scaler, warn=reporter.warn)
            state = LoopState(state.has_validation, saved["history"], saved["best"], saved["best_epoch"],
                              saved["stale"], saved["epoch"] + 1)
            if saved["best_epoch"] == saved["epoch"] and self.dist.is_main:
                # the checkpointed model is the best one; its weights file may not have been written
                write_safetensors_atomic(self.paths.weights, model.state_dict())
            reporter.log(f"resuming after epoch {saved['epoch']}")
        try:
            with reporter.live():
                for epoch in range(state.next_epoch, train_cfg.epochs + 1):
                    if train_cfg.early_stopping and state.stale >= train_cfg.early_stopping.patience:
                        reporter.log(f"early stopping: {train_cfg.monitor} did not improve for {state.stale} epochs")
                        break
                    self._epoch(epoch, parts, state)
                    if self.stop_after_epochs is not None and self.stop_after_epochs <= epoch < train_cfg.epochs:
                        raise TrainingInterrupted(f"stopped after epoch {epoch} as asked; continue with --resume")
        finally:
            if self.dist.is_main:
                write_history(state.history, self.paths)  # the curves, also when stopped early or interrupted
        return state

    def _epoch(self, epoch: int, parts: _Parts, state: LoopState) -> None:
        """Train one epoch, validate, keep the best weights, checkpoint."""
        cfg, reporter, pipeline = self.spec.train, self.reporter, parts.pipeline
        sharding = (lambda order: shard(order, self.dist)) if self.dist.enabled else None
        batches = (len(shard(torch.arange(len(pipeline.tables["train"])), self.dist)) + cfg.batch_size - 1) \
            // cfg.batch_size
        with reporter.task(f"epoch {epoch}/{cfg.epochs}", batches) as advance:
            stats = train_epoch(
                parts.trained, pipeline.batches("train", cfg.batch_size, shuffle=True, train=True, seed=cfg.seed,
                                                epoch=epoch, balanced=cfg.imbalance == "balanced_sampler",
                                                shard=sharding),
                optimizer=parts.optimizer, scheduler=parts.scheduler, scaler=parts.scaler, loss_fn=parts.loss_fn,
                autocast=self.precision.autocast, device=self.device, accumulate=cfg.grad_accum_steps,
                clip=cfg.clip_grad_norm, num_batches=batches, channels_last=parts.channels_last, advance=advance)
        loss_sum, samples = self.dist.sum(stats.loss * stats.samples, stats.samples)
        row: dict[str, Any] = {"epoch": epoch, "train_loss": loss_sum / max(samples, 1), "val_loss": None,
                               "val_accuracy": None,
                               "val_macro_f1": None, "lr": _new_layers_lr(parts.optimizer),
                               "seconds": round(stats.seconds, 3),
                               "train_samples_per_s": round(samples / stats.seconds, 3) if stats.seconds else None}
        if state.has_validation:
            val_labels, val_probabilities, val_loss = self._validate(parts)
            metrics = summary_metrics(val_labels, val_probabilities.argmax(1), len(pipeline.labels))
            row.update(val_loss=val_loss, val_accuracy=metrics["accuracy"], val_macro_f1=metrics["macro_f1"])
        state.history.append(row)
        min_delta = cfg.early_stopping.min_delta if cfg.early_stopping else 0.0
        if not state.has_validation or _better(row[cfg.monitor], state.best,
                                               "min" if cfg.monitor == "val_loss" else "max", min_delta):
            state.best = row[cfg.monitor] if state.has_validation else None
            state.best_epoch, state.stale = epoch, 0
        else:
            state.stale += 1
        reporter.log(self._epoch_line(row, state.best_epoch == epoch))
        if self.dist.is_main:
            write_history(state.history, self.paths, plot=False)
            # the checkpoint first: a crash between the two writes leaves a checkpoint whose model is the
            # best one, and resuming rewrites the weights from it (see _restore_best_weights)
            save_checkpoint(self.paths.checkpoints, model=parts.model, optimizer=parts.optimizer,
                            scheduler=parts.scheduler, scaler=parts.scaler,
                            trainer_state={"epoch": epoch, "history": state.history, "best": state.best,
                                           "best_epoch": state.best_epoch, "stale": state.stale})
            if state.best_epoch == epoch:
                write_safetensors_atomic(self.paths.weights, parts.model.state_dict())
        self.dist.barrier()

    def _validate(self, parts: _Parts):  # type: ignore[no-untyped-def]
        """Labels, probabilities and mean loss on the validation split (each process scores its shard)."""
        size = self.spec.train.eval_batch_size or 4 * self.spec.train.batch_size
        n = len(parts.pipeline.tables["validation"])
        order = shard(torch.arange(n), self.dist)
        with self.reporter.task("validating", (len(order) + size - 1) // size) as advance:
            val = predict_batches(parts.model, parts.pipeline.batches("validation", size, order=order),
                                  autocast=self.precision.autocast, device=self.device,
                                  channels_last=parts.channels_last, loss_fn=torch.nn.CrossEntropyLoss(),
                                  advance=advance)
        if not self.dist.enabled:
            return val.labels, val.probabilities, val.loss
        pieces = self.dist.gather((order.tolist(), val.labels, val.probabilities))
        by_index = {}
        for indices, labels, probabilities in pieces:  # padding repeats a few rows: keep each row once
            for i, index in enumerate(indices):
                by_index[index] = (labels[i], probabilities[i])
        rows = [by_index[i] for i in range(n)]
        labels = np.array([r[0] for r in rows])
        probabilities = np.stack([r[1] for r in rows])
        loss = float(torch.nn.functional.nll_loss(torch.log(torch.from_numpy(probabilities).clamp(min=1e-12)),
                                                  torch.from_numpy(labels)))
        return labels, probabilities, loss

    @staticmethod
    def _epoch_line(row: dict[str, Any], is_best: bool) -> str:  # noqa: D102
        parts = [f"epoch {row['epoch']}", f"train loss {row['train_loss']:.4f}"]
        if row["val_accuracy"] is not None:
            parts += [f"val loss {row['val_loss']:.4f}", f"val acc {row['val_accuracy']:.4f}",
                      f"val macro-F1 {row['val_macro_f1']:.4f}"]
        parts.append(f"{row['seconds']:.1f}s ({row['train_samples_per_s'] or 0:.1f} samples/s)")
        return " | ".join(parts) + (" [best]" if is_best else "")

    def _summary(self, model, pipeline: DataPipeline, history, best_epoch, best, test_metrics, notes,  # type: ignore
                 prepare_seconds: float, total_seconds: float) -> dict[str, Any]:
        rows = summarize(model)
        return {
            "run_dir": str(self.paths.root),
            "device": str(self.device),
            "precision": self.precision.name,
            "precision_reason": self.precision.reason,
            "num_classes": len(pipeline.labels),
            "parameters": sum(r.parameters for r in rows),
            "trainable_parameters": sum(r.trainable for r in rows),
            "components": [r.as_dict() for r in rows],
            "data": {split: {"rows": len(t), "present": t.counts(),
                             "bad_values_as_absent": {m: len(v) for m, v in t.bad.items()}}
                     for split, t in pipeline.tables.items()},
            "cached_modalities": sorted({m for c in pipeline.cached.values() for m in c}),
            "encoded_now": pipeline.computed,
            "prepare_seconds": round(prepare_seconds, 2),
            "epochs_run": len(history),
            "best_epoch": best_epoch,
            "monitor": self.spec.train.monitor,
            "best_metric": best,
            "final": history[-1] if history else None,
            "test": test_metrics,
            "notes": notes,
            "total_seconds": round(total_seconds, 2),
        }


def _new_layers_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the new layers (``train.lr``), the one metrics.csv reports; encoders' is scaled alike."""
    groups = optimizer.param_groups
    return next((g["lr"] for g in groups if str(g.get("name", "")).startswith("new")), groups[0]["lr"])
