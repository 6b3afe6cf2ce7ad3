"""Fitting a spec on data: everything around the loop (:func:`~mmfusion.training.loop.fit_loop`): the run directory
checked and locked, the data, model, pipeline, optimiser and loss built, the files evaluate/predict need written.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..data.labels import LabelSet
from ..data.pipeline import build_pipeline
from ..data.tables import PreparedTables, load_prepared_tables
from ..errors import MMFusionError, PluginError
from ..inference.engine import InferenceEngine
from ..interfaces.callback import Callback
from ..interfaces.dataset import DatasetTables
from ..model.builder import build_model
from ..model.forward_check import check_forward
from ..progress import Reporter
from ..registry import Registry, get_registry, is_always_on
from ..run.errors import RunDirError
from ..run.layout import RunPaths
from ..run.load import LoadedRun
from ..run.lock import RunLock
from ..run.write import check_resumed_labels, claim_run_dir, remove_unstarted_run, run_inputs, write_run_files
from ..runtime.devices import resolve_device
from ..runtime.precision import resolve_precision
from ..runtime.threads import ThreadChoice, intra_op_threads, resolve_threads
from ..spec.spec import Spec
from .callbacks.base import CallbackList, plugin_call
from .compiled import compiled
from .context import FitResult, TrainingContext, TrainingInterrupted
from .distributed import from_environment, shard_batches
from .loop import fit_loop
from .losses import build_loss, class_weights
from .optim import make_optimizer, make_scheduler

#: the built-in plugin that registers the loop's own steps (checkpoints, test report, summary ...)
LOOP_STEPS = "mmfusion.default_plugins.callbacks"

__all__ = ["FitResult", "Trainer", "TrainingInterrupted"]


class Trainer:
    """Trains the model of a spec and writes a run directory (see :mod:`mmfusion.run.layout`).

    ``tables`` replaces the spec's source (DataFrames, or tables already prepared: a sweep reads them once for all
    its runs); ``callbacks`` run after those of ``train.callbacks`` at their stage; ``threads`` overrides
    ``train.threads`` (the ``--threads`` flag); ``lock_holder_gone`` says why a run folder's lock taken on another
    host may be taken over (a shared study saw that worker die).
    """

    def __init__(self, spec: Spec, out: str | Path, *, device: str = "auto", resume: bool = False,
                 progress: bool = True, tables: DatasetTables | PreparedTables | None = None,
                 registry: Registry | None = None, callbacks: Sequence[Callback] = (),
                 threads: int | None = None, lock_holder_gone: str | None = None) -> None:
        if spec.data is None:
            raise MMFusionError("the spec has no `data:` section; training needs one (see docs/spec.md)")
        self.spec = spec
        self.paths = RunPaths(Path(out))
        self.dist, device = from_environment(device)  # under torchrun: join the process group
        self.device = resolve_device(device)
        self.precision = resolve_precision(spec.train.precision, self.device)
        self.reporter = Reporter(progress and self.dist.is_main)
        self.resume, self.tables, self.registry = resume, tables, registry
        self.callbacks, self.threads = list(callbacks), threads
        self.lock_holder_gone = lock_holder_gone  # a shared study knows the run's previous worker is dead
        self._lock: RunLock | None = None
        self.inputs: dict[str, object] = {}

    # ----- set-up --------------------------------------------------------------------------------
    def _lock_run_dir(self) -> None:
        """One writer per run directory: rank 0 holds RUN/.lock for every process of the job until fit ends."""
        problem = None
        if self.dist.is_main:
            try:
                self._lock = RunLock.acquire(self.paths.root, warn=self.reporter.warn,
                                             elsewhere_gone=self.lock_holder_gone)
            except MMFusionError as exc:
                problem = exc
        message = self.dist.gather(str(problem) if problem else None)[0]  # the other ranks stop with rank 0
        if problem is not None:
            raise problem
        if message:
            raise RunDirError(message)

    # ----- the run -------------------------------------------------------------------------------
    def fit(self) -> FitResult:
        fresh, failed = not self.resume and not self.paths.root.exists(), False
        try:
            return self._fit()
        except BaseException:
            failed = True
            raise
        finally:
            if self._lock is not None:  # also on errors and Ctrl-C
                self._lock.release()
                self._lock = None
            self.dist.shutdown()
            if failed and fresh and self.dist.is_main:  # a new run that failed before its first epoch: no folder
                remove_unstarted_run(self.paths)

    def _fit(self) -> FitResult:
        started = time.perf_counter()
        claim_run_dir(self.paths, resume=self.resume, lock=self._lock_run_dir)
        self.dist.barrier()  # every process has checked the run directory before rank 0 writes to it
        seed = self.spec.train.seed
        random.seed(seed)
        np.random.seed(seed % (2**32))
        torch.manual_seed(seed)
        ctx = self._context(started)
        threads = self._threads(ctx)
        with intra_op_threads(threads.count if threads else None):
            fit_loop(ctx, self._callbacks())
        result = ctx.result()
        if self.dist.is_main:  # the trained run in memory, as load_run would read it back
            result.run = LoadedRun(self.paths, ctx.spec, ctx.labels, ctx.model, ctx.summary, self.inputs, ctx.task,
                                   ctx.thresholds, ctx.temperature)
        return result

    def _threads(self, ctx: TrainingContext) -> ThreadChoice | None:
        """The loop's thread count (features are extracted before it, on torch's default)."""
        trainable = sum(p.numel() for p in ctx.model.parameters() if p.requires_grad)
        choice = resolve_threads(self.threads if self.threads is not None else self.spec.train.threads, self.device,
                                 encoders_in_loop=bool(ctx.pipeline.live),
                                 step_work=trainable * self.spec.train.batch_size,
                                 compiled=bool(self.spec.train.compile))
        if choice is not None:
            ctx.reporter.log(f"threads {choice.count} ({choice.reason}"
                             f"{'; checked again each epoch' if choice.adaptive else ''})")
            ctx.timings["threads"] = choice.count
        ctx.threads = choice
        return choice

    def _context(self, started: float) -> TrainingContext:
        """Data, model, pipeline, optimiser, schedule, loss: everything the loop needs, built in this order."""
        spec, train_cfg, reporter, main = self.spec, self.spec.train, self.reporter, self.dist.is_main
        prepared = self.tables if isinstance(self.tables, PreparedTables) else \
            load_prepared_tables(spec.data, self.tables, self.registry)
        for note in prepared.notes:
            reporter.log(f"note: {note}")
        data = spec.data
        labels = LabelSet.from_training_data(prepared.tables["train"], prepared.label_column, given=data.labels,
                                             source_order=prepared.labels, where=prepared.names["train"],
                                             task=prepared.task, sep=data.label_sep, positive=data.positive_label)
        if self.resume:
            check_resumed_labels(self.paths, labels.names)
        # the spec the run keeps: the task found (and binary's positive label), and the loss and monitor it implies
        spec = spec.for_task(labels.task, self.registry or get_registry(), why=prepared.task_reason)
        if labels.positive is not None:
            spec = spec.model_copy(update={"data": spec.data.model_copy(update={"positive_label": labels.positive})})
        self.spec, train_cfg = spec, spec.train
        if labels.task != "multiclass":
            reporter.log(f"task: {labels.task} ({prepared.task_reason}); {len(labels)} labels, "
                         f"{labels.num_outputs} output(s)")
        model = build_model(spec, labels.num_outputs, registry=self.registry).to(self.device)
        # as `mmfusion build` does: a component whose output differs from the width it declares is named now,
        # not as a shape error deep in the first batch
        check_forward(model, size=4, device=self.device, num_classes=labels.num_outputs)
        # validation and the test report score at the training precision, through the one inference engine
        engine = InferenceEngine.for_run(model, train_cfg, self.device, registry=self.registry, task=labels.task,
                                         precision=self.precision)
        if "emulated" in self.precision.reason:  # bf16 on a CPU without it
            reporter.warn(self.precision.reason)
        reporter.log(f"device {self.device}, precision {self.precision.name} ({self.precision.reason or 'as asked'})")
        extract_started = time.perf_counter()
        if not main:
            self.dist.barrier()  # rank 0 fills the feature cache first; the others then read it
        pipeline = build_pipeline(
            model, spec.data, prepared, labels, cache=train_cfg.cache_features,
            cache_dir=Path(train_cfg.cache_dir) if train_cfg.cache_dir else None, device=self.device,
            autocast=self.precision.autocast, channels_last=engine.channels_last, num_workers=train_cfg.num_workers,
            feature_dtype=train_cfg.feature_dtype, reporter=reporter, registry=self.registry, fit_split="train")
        if main:
            self.dist.barrier()
        prepare_seconds = time.perf_counter() - extract_started
        self.inputs = run_inputs(model, pipeline.columns, prepared.label_column)
        if main:
            write_run_files(self.paths, spec, model, labels.names, self.inputs)
        batches = shard_batches(len(pipeline.tables["train"]), train_cfg.batch_size, self.dist)
        steps_per_epoch = (batches + train_cfg.grad_accum_steps - 1) // train_cfg.grad_accum_steps
        optimizer = make_optimizer(model, train_cfg, self.device)
        scheduler = make_scheduler(optimizer, train_cfg, steps_per_epoch * train_cfg.epochs)
        weights = (class_weights(pipeline.tables["train"].labels, len(pipeline.labels))
                   if train_cfg.imbalance == "class_weights" else None)  # multiclass only (the spec's checks say so)
        loss = build_loss(train_cfg, labels.num_outputs, class_weights=weights, registry=self.registry,
                          task=labels.task, targets=pipeline.tables["train"].labels).to(self.device)
        validation = pipeline.tables.get("validation")
        return TrainingContext(
            spec=spec, paths=self.paths, model=model, pipeline=pipeline, optimizer=optimizer, scheduler=scheduler,
            scaler=self.precision.grad_scaler(), loss=loss, engine=engine, device=self.device,
            precision=self.precision, reporter=reporter, dist=self.dist, registry=self.registry,
            trained=compiled(self._distributed(model), train_cfg.compile, self.device, reporter), resume=self.resume,
            has_validation=validation is not None and validation.labels is not None, notes=list(prepared.notes),
            timings={"started": started, "prepare_seconds": prepare_seconds})

    def _distributed(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module the training forward runs through: DDP-wrapped under torchrun (gradients averaged)."""
        if not self.dist.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        # unused parameters: e.g. placeholders of inputs present in every sample
        return DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                                       find_unused_parameters=True)

    def _callbacks(self) -> CallbackList:
        """The registry's always-on callbacks (the loop's own steps), the spec's ``train.callbacks`` and the ones
        passed in, each placed by its ``stage``."""
        registry = self.registry or get_registry()
        broken = [f for f in registry.failures if f.module == LOOP_STEPS]
        if broken:  # without them a fit would write no checkpoint, test report or summary
            raise PluginError(f"the training loop's own steps ({LOOP_STEPS}) did not load: {broken[0].error}")
        entries = [e for e in registry.entries("callback") if is_always_on("callback", e.cls)]
        always = [plugin_call(f"callback '{e.name}' of {e.qualified_name}", "could not be built", e.cls)
                  for e in entries]
        plugins = [built for built, e in zip(always, entries) if not e.plugin.builtin]
        named = [plugin_call(f"train.callbacks.{index}: callback '{config.type}'", "could not be built",
                             registry.get("callback", config.component_name), config)
                 for index, config in enumerate(self.spec.train.callbacks)]
        return CallbackList([*always, *named, *self.callbacks], named=[*plugins, *named])
