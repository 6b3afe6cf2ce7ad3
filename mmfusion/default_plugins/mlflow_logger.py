"""The ``mlflow`` logger: the spec as parameters, per-epoch metrics, the final report as metrics and an artifact.

Needs the ``mlflow`` package (``pip install 'mmfusion[loggers]'``); it is imported only when a run asks for
this logger. Without a tracking URI (in the config or ``MLFLOW_TRACKING_URI``) the run is recorded in the run
directory: a SQLite store ``RUN/mlflow/mlflow.db`` with artifacts in ``RUN/mlflow/artifacts`` (MLflow 3 no
longer accepts plain-folder stores by default). ``--resume`` continues the same MLflow run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ..errors import MMFusionError
from ..hookspecs import hookimpl
from ..interfaces.config import LoggerConfig
from ..interfaces.logger import Logger
from ..io import read_json, write_json_atomic
from .tensorboard_logger import numbers

_MAX_PARAM = 500  # MLflow limits parameter values; longer ones are cut


def flatten(values: Any, prefix: str = "") -> dict[str, str]:
    """``{"model": {"fusion": {"type": "concat"}}}`` → ``{"model.fusion.type": "concat"}`` (lists as JSON)."""
    if isinstance(values, Mapping):
        return {k: v for key, value in values.items() for k, v in flatten(value, f"{prefix}{key}.").items()}
    text = json.dumps(values) if isinstance(values, (list, tuple)) else str(values)
    return {prefix.rstrip("."): text[:_MAX_PARAM]}


class MlflowConfig(LoggerConfig):
    type: Literal["mlflow"] = "mlflow"
    tracking_uri: str | None = Field(None, description="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else a "
                                                       "SQLite store in RUN/mlflow).")
    experiment: str = Field("mmfusion", description="Experiment name (created when missing).")
    run_name: str | None = Field(None, description="Run name (default: the run directory's name).")


class MlflowLogger(Logger):
    """One MLflow run per run directory: params from the spec, metrics per epoch (step = epoch), ``test_*``
    metrics and ``report.json`` at the end; its status is FINISHED, or FAILED when training failed."""

    name = "mlflow"
    Config = MlflowConfig

    def __init__(self, config: MlflowConfig, run_dir: Path) -> None:
        super().__init__(config, run_dir)
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise MMFusionError("train.loggers: mlflow needs the mlflow package: pip install mlflow "
                                "(or 'mmfusion[loggers]')") from None
        self.folder = self.run_dir / "mlflow"
        self.tracking_uri = config.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or self._local_store()
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        self.run_id: str | None = None

    def _local_store(self) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.folder / 'mlflow.db').resolve()}"

    def _start(self) -> None:
        experiment = self.client.get_experiment_by_name(self.config.experiment)
        own_store = self.tracking_uri.startswith("sqlite:///") and self.folder.exists()  # artifacts beside it
        artifacts = (self.folder / "artifacts").resolve().as_uri() if own_store else None
        experiment_id = experiment.experiment_id if experiment is not None else self.client.create_experiment(
            self.config.experiment, artifact_location=artifacts)
        run = self.client.create_run(experiment_id, run_name=self.config.run_name or self.run_dir.name)
        self.run_id = run.info.run_id
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.folder / "run.json", {"run_id": self.run_id, "tracking_uri": self.tracking_uri})

    def log_config(self, spec: Mapping[str, Any]) -> None:
        self._start()
        from mlflow.entities import Param

        params = [Param(k, v) for k, v in flatten(spec).items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=params[start:start + 100])

    def resume(self, spec: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> None:
        marker = self.folder / "run.json"
        saved = read_json(marker) if marker.exists() else None
        if isinstance(saved, dict) and saved.get("tracking_uri") == self.tracking_uri and saved.get("run_id"):
            self.run_id = saved["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
        else:  # a run trained without this logger, or against another store: start a run for the rest
            self.log_config(spec)

    def log_metrics(self, epoch: int, metrics: Mapping[str, Any]) -> None:
        if self.run_id is None:
            self._start()
        for key, value in numbers(metrics).items():
            if key != "epoch":
                self.client.log_metric(self.run_id, key, value, step=epoch)

    def log_report(self, report: Mapping[str, Any]) -> None:
        if self.run_id is None:
            return
        test = report.get("test")
        if isinstance(test, Mapping):
            for key, value in numbers(test).items():
                self.client.log_metric(self.run_id, f"test_{key}", value)
        self.client.log_dict(self.run_id, json.loads(json.dumps(report, default=str)), "report.json")

    def close(self, failed: bool = False) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, status="FAILED" if failed else "FINISHED")


@hookimpl
def mmfusion_loggers() -> list[type]:
    return [MlflowLogger]
