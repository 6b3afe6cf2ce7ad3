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
        # a SQLite store keeps artifacts beside its file (MLflow's default is ./mlruns in the working folder)
        database = self.tracking_uri.removeprefix("sqlite:///") if self.tracking_uri.startswith("sqlite:///") else None
        artifacts = (Path(database).parent / "artifacts").resolve().as_uri() if database else None
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
        """Continue the MLflow run, unless it holds an epoch past the checkpoint resumed from (a crash between
        logging an epoch and saving it): MLflow cannot delete metric points, so that run is marked KILLED (tag
        ``mmfusion.superseded_by``) and a new one gets the spec and the kept epochs, then the rest."""
        marker = self.folder / "run.json"
        saved = read_json(marker) if marker.exists() else None
        if not (isinstance(saved, dict) and saved.get("tracking_uri") == self.tracking_uri and saved.get("run_id")):
            self.log_config(spec)  # a run trained without this logger, or against another store: start one
            for row in history:
                self.log_metrics(int(row["epoch"]), row)
            return
        last = int(history[-1]["epoch"]) if history else 0
        previous = saved["run_id"]
        if all(point.step <= last for point in self.client.get_metric_history(previous, "train_loss")):
            self.run_id = previous
            self.client.update_run(self.run_id, status="RUNNING")
            return
        self.log_config(spec)
        self.client.set_tag(previous, "mmfusion.superseded_by", self.run_id)
        self.client.set_terminated(previous, status="KILLED")
        for row in history:
            self.log_metrics(int(row["epoch"]), row)

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

    @classmethod
    def conformance_configs(cls, workdir: Path) -> list[MlflowConfig]:
        """A store in the kit's folder: never the user's ``MLFLOW_TRACKING_URI``."""
        return [MlflowConfig(tracking_uri=f"sqlite:///{(Path(workdir) / 'mlflow.db').resolve()}")]

    @classmethod
    def conformance_history(cls, config: MlflowConfig, run_dir: Path) -> list[dict[str, Any]]:
        """One row per ``train_loss`` point of the run ``RUN/mlflow/run.json`` names (an epoch logged twice
        shows twice)."""
        from mlflow.tracking import MlflowClient

        saved = read_json(Path(run_dir) / "mlflow" / "run.json")
        client = MlflowClient(tracking_uri=saved["tracking_uri"])
        points = sorted(client.get_metric_history(saved["run_id"], "train_loss"), key=lambda p: (p.step, p.timestamp))
        return [{"epoch": p.step, "train_loss": p.value} for p in points]


@hookimpl
def mmfusion_loggers() -> list[type]:
    return [MlflowLogger]
