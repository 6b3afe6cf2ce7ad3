"""What a study leaves in its output folder: trials.csv/md, tune.json, best_spec.yaml and three pictures
(history.png: each trial's value and the best so far; importance.png: Optuna's parameter importances;
epochs.png: each trial's validation metric per epoch, pruned trials dashed)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

from ..evaluation.report import markdown_table
from ..io import write_json_atomic, write_text_atomic
from ..plots import new_figure, save_figure
from ..registry import Registry
from ..spec.loader import spec_to_yaml
from ..spec.spec import Spec
from ..sweep.storage import masked, require_optuna
from ..sweep.trials import ERROR, counts, is_spare
from .space import Choices, TuneSpec, choice_label, trial_spec

BEST_SPEC = "best_spec.yaml"
_STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}


def decoded(settings: TuneSpec, params: dict[str, Any]) -> dict[str, Any]:
    """A trial's values as the spec takes them (a choice's mapping, not its JSON label)."""
    out = {}
    for key, label in params.items():
        parameter = settings.space.get(key)
        if isinstance(parameter, Choices):
            labels = [choice_label(c) for c in parameter.choices]
            out[key] = parameter.choices[labels.index(label)] if label in labels else label
        else:
            out[key] = label
    return out


def trial_rows(study: Any, settings: TuneSpec) -> list[dict[str, Any]]:
    """One row per trial that did work (spares left out), in trial order."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if is_spare(trial):
            continue
        attrs = trial.user_attrs
        state = _STATES.get(trial.state.name, trial.state.name.lower())
        rows.append({"trial": trial.number, "state": state, "value": trial.value,
                     **{key: value for key, value in decoded(settings, trial.params).items()},
                     "epochs": attrs.get("epochs"), "best_epoch": attrs.get("best_epoch"),
                     "train_seconds": attrs.get("train_seconds"),
                     **{f"test_{k}": v for k, v in (attrs.get("test") or {}).items()},
                     "run_dir": attrs.get("run_dir"), "error": attrs.get(ERROR)})
    return rows


def write_tune_reports(study: Any, out_dir: Path, metric: str, settings: TuneSpec, base: Spec, folder: Path,
                       registry: Registry | None, tune_file: Path, storage_url: str = "", trials: int | None = None
                       ) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Write every output of the study as it stands now (any worker may call it; the last one sees all trials)."""
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = trial_rows(study, settings)
    files: dict[str, str] = {}
    table = pd.DataFrame([{k: json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v
                           for k, v in row.items()} for row in rows])
    write_text_atomic(out_dir / "trials.csv", table.to_csv(index=False))
    files["csv"] = str(out_dir / "trials.csv")
    minimise = metric == "val_loss"
    ranked = sorted(rows, key=lambda r: (r["state"] != "complete", r["state"] != "pruned",
                                         _rank_value(r["value"], minimise)))
    keys = list(settings.space)
    lines = [f"# Study '{study.study_name}': {metric} ({'lower' if minimise else 'higher'} is better)", "",
             *markdown_table(["trial", "state", metric, *keys, "epochs"],
                             ([str(r["trial"]), r["state"], _number(r["value"]),
                               *(_cell(r.get(k)) for k in keys), _cell(r["epochs"])] for r in ranked), left=2)]
    write_text_atomic(out_dir / "trials.md", "\n".join(lines) + "\n")
    files["markdown"] = str(out_dir / "trials.md")
    complete = [t for t in study.get_trials(deepcopy=False, states=(require_optuna().trial.TrialState.COMPLETE,))]
    best = study.best_trial if complete else None
    if best is not None:
        values = decoded(settings, best.params)
        spec = trial_spec(base, values, metric, settings.seed, folder, registry, f"trial {best.number}",
                          settings.space)
        header = (f"# The best trial of {tune_file.name}: trial {best.number}, {metric} {best.value:.4f}, with\n"
                  + "".join(f"#   {k}: {json.dumps(v, sort_keys=True)}\n" for k, v in values.items())
                  + f"# Its full spec; train it as it is:\n#   mmfusion train {out_dir / BEST_SPEC}\n")
        write_text_atomic(out_dir / BEST_SPEC, header + spec_to_yaml(spec))
        files["best_spec"] = str(out_dir / BEST_SPEC)
    files.update(_plots(study, out_dir, metric, rows, keys))
    summary = {"study": study.study_name, "storage": masked(storage_url), "metric": metric,
               "direction": "minimize" if minimise else "maximize", "trials": trials or settings.trials,
               "finished": counts(study)["finished"],
               "best": None if best is None else {"trial": best.number, "value": best.value,
                                                  "values": decoded(settings, best.params)},
               "files": {k: Path(v).name for k, v in files.items()}}
    write_json_atomic(out_dir / "tune.json", summary)
    files["summary"] = str(out_dir / "tune.json")
    return files, rows


def _rank_value(value: Any, minimise: bool) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.inf
    return value if minimise else -value


def _number(value: Any) -> str:
    return "" if value is None else f"{value:.4f}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True).replace("|", "\\|")
    return str(value)


def _plots(study: Any, out_dir: Path, metric: str, rows: list[dict[str, Any]], keys: list[str]) -> dict[str, str]:
    files = {}
    done = [r for r in rows if r["state"] == "complete" and r["value"] is not None]
    if done:
        files["history"] = str(save_figure(history_figure(done, metric), out_dir / "history.png"))
    importances = param_importances(study)
    if importances:
        files["importance"] = str(save_figure(importance_figure(importances, metric), out_dir / "importance.png"))
    curves = [(t.number, t.state.name.lower(), sorted(t.intermediate_values.items()))
              for t in study.get_trials(deepcopy=False) if t.intermediate_values and not is_spare(t)]
    if curves:
        files["epochs"] = str(save_figure(epochs_figure(curves, metric), out_dir / "epochs.png"))
    return files


def param_importances(study: Any) -> dict[str, float]:
    """Optuna's importance of each parameter (fANOVA) over the complete trials; {} while there are too few
    trials (two complete ones, with at least one parameter that varied)."""
    optuna = require_optuna()
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(optuna.importance.get_param_importances(study))
    except (ValueError, RuntimeError):  # every complete trial has the same values, or a space of one point
        return {}


def history_figure(done: list[dict[str, Any]], metric: str) -> Any:
    minimise = metric == "val_loss"
    numbers = [r["trial"] for r in done]
    values = [r["value"] for r in done]
    best, running = [], math.inf if minimise else -math.inf
    for value in values:
        running = min(running, value) if minimise else max(running, value)
        best.append(running)
    fig = new_figure(figsize=(7, 4))
    ax = fig.subplots()
    ax.scatter(numbers, values, label="trial", zorder=3)
    ax.step(numbers, best, where="post", color="tab:red", label="best so far")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title("Optimisation history")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return fig


def importance_figure(importances: dict[str, float], metric: str) -> Any:
    names = list(importances)[::-1]
    fig = new_figure(figsize=(7, 1.2 + 0.5 * len(names)))
    ax = fig.subplots()
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    ax.set_xlabel(f"importance for {metric} (fANOVA, shares add up to 1)")
    ax.set_title("Parameter importances")
    ax.set_xlim(0, 1)
    return fig


def epochs_figure(curves: list[tuple[int, str, list[tuple[int, float]]]], metric: str) -> Any:
    fig = new_figure(figsize=(7, 4))
    ax = fig.subplots()
    for number, state, points in curves:
        steps, values = zip(*points)
        ax.plot(steps, values, linestyle="--" if state == "pruned" else "-", marker=".",
                label=f"trial {number} ({state})" if len(curves) <= 12 else None)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title("Validation metric per epoch (pruned trials dashed)")
    if len(curves) <= 12:
        ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return fig
