"""Checks every training callback must pass: its config, JSON-ready state that survives a round trip, and a resume
after a crash that leaves it in the state of a run that never crashed.

A crash can come after a callback's ``on_epoch_end`` and before the epoch's checkpoint; ``--resume`` then trains
that epoch again. Whatever the callback keeps must come back from its ``state_dict`` as of the checkpoint, or it
counts the epoch twice (files it writes: rewrite them from that state, as the ``csv`` logger does).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from ..interfaces.callback import Callback
from .common import ConformanceError, check_configs, configs_for, require, workdir_for

EPOCHS = 3
CRASH_EPOCH = 2
#: files whose lines the resume check counts (a line appended per epoch shows twice after a bad resume)
TEXT_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl", ".log", ".json", ".md")


_FOLDERS = itertools.count()


class _Crash(Exception):
    """Stands for a crash between a callback's ``on_epoch_end`` and the checkpoint."""


class _CrashAfterCallbacks(Callback):
    """Raises at the end of :data:`CRASH_EPOCH`, after the ``main`` callbacks before it, before the checkpoint."""

    def on_epoch_end(self, ctx: Any, row: dict[str, Any]) -> None:
        if row["epoch"] == CRASH_EPOCH:
            raise _Crash(f"crash after epoch {CRASH_EPOCH}'s callbacks, before its checkpoint")


def _new(component: type[Callback], config: Any) -> Callback:
    return component(config) if config is not None else component()


def _json(state: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(state))
    except (TypeError, ValueError) as exc:
        raise ConformanceError(f"{what} is not JSON-ready ({exc}): checkpoints store it as JSON") from None


def check_callback_config(component: type[Callback]) -> None:
    """Configs round-trip through JSON, forbid unknown keys and carry the component's name as type (a callback
    without a ``Config`` has nothing to check)."""
    if component.Config is not None:
        check_configs(component)


def check_callback_state_dict(component: type[Callback]) -> None:
    """``state_dict()`` is None or JSON-ready, and a fresh instance given it by ``load_state_dict`` returns it."""
    for config in configs_for(component):
        state = _new(component, config).state_dict()
        if state is None:
            continue
        saved = _json(dict(state), "state_dict()")
        fresh = _new(component, config)
        fresh.load_state_dict(saved)
        again = fresh.state_dict()
        require(again is not None and _json(dict(again), "state_dict()") == saved,
                f"load_state_dict(state) then state_dict() gives {again!r}, not {saved!r}")


def check_callback_resume(component: type[Callback]) -> None:
    """A tiny fit of 3 epochs, and the same fit crashed after epoch 2's callbacks (before its checkpoint) and
    resumed with a new instance: the callback ends in the same ``state_dict()``, and each text file it writes in
    the run directory has as many lines."""
    for config in configs_for(component):
        folder = workdir_for(component) / f"resume-{next(_FOLDERS)}"
        straight = _new(component, config)
        _tiny_fit(folder, "straight", [straight])
        crashed = _new(component, config)
        try:
            _tiny_fit(folder, "crashed", [crashed, _CrashAfterCallbacks()])
        except _Crash:
            pass
        else:
            raise ConformanceError("the callback kept the fit from reaching the end of epoch 2 (it stopped training?); "
                                 "give conformance_configs() a config that lets 3 epochs run")
        resumed = _new(component, config)
        _tiny_fit(folder, "crashed", [resumed], resume=True)
        want, got = straight.state_dict(), resumed.state_dict()
        want, got = (None if s is None else _json(dict(s), "state_dict()") for s in (want, got))
        require(got == want, f"after a crash and --resume the callback's state is {got!r}; a run without the crash "
                f"ends in {want!r}: keep what the callback counts in state_dict(), as of the checkpoint")
        _tiny_fit(folder, "without", [])
        for path in _own_files(folder / "straight", folder / "without"):
            lines = [_lines(root / path) for root in (folder / "straight", folder / "crashed")]
            require(lines[0] == lines[1], f"{path}, which the callback writes in the run directory, has {lines[1]} "
                    f"lines after a crash and --resume, {lines[0]} without the crash: rewrite it from state kept in "
                    "state_dict() (as of the checkpoint) instead of appending to it")


def _own_files(run: Path, without: Path) -> list[Path]:
    """The text files in ``run`` that a fit without the callback does not write."""
    theirs = {p.relative_to(without) for p in without.rglob("*") if p.is_file()}
    return sorted(rel for p in run.rglob("*") if p.is_file() and (rel := p.relative_to(run)) not in theirs
                  and p.suffix in TEXT_SUFFIXES)


def _lines(path: Path) -> int | None:
    return len(path.read_text(encoding="utf-8", errors="replace").splitlines()) if path.exists() else None


def _tiny_fit(folder: Path, name: str, callbacks: list[Callback], *, resume: bool = False) -> None:
    """Train an image-only model (a tiny timm network, frozen, on cached features) on 48 generated rows."""
    from ..api import fit
    from .data import make_xor_dataset

    data = folder / "data" / "data.csv"
    if not data.exists():
        make_xor_dataset(folder / "data", n=48)
    spec = {"model": {"encoders": {"image": {"type": "timm", "model_name": "test_efficientnet", "image_size": 32,
                                             "freeze": True}},
                      "fusion": {"type": "concat"}, "head": {"type": "linear"}},
            "data": {"source": {"type": "csv", "train": str(data)}, "split": {"validation": 0.25, "test": 0.0}},
            "train": {"epochs": EPOCHS, "batch_size": 8, "lr": 0.01, "warmup": 0.0, "seed": 0,
                      "cache_dir": str(folder / "cache")}}
    fit(spec, out=folder / name, resume=resume, callbacks=callbacks)


CALLBACK_CHECKS = [check_callback_config, check_callback_state_dict, check_callback_resume]
