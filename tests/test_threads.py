"""Thread counts: what auto picks for which run and machine load, explicit counts, and the count restored after."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mmfusion.errors import MMFusionError
from mmfusion.runtime.threads import TINY_STEP, ThreadChoice, busy_elsewhere, intra_op_threads, resolve_threads
from mmfusion.spec import load_spec

CPU = torch.device("cpu")


@pytest.mark.parametrize("in_loop", [True, False])
def test_auto_uses_every_core_not_busy_elsewhere(monkeypatch: pytest.MonkeyPatch, in_loop: bool) -> None:
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    idle = resolve_threads("auto", CPU, encoders_in_loop=in_loop, busy=0)
    assert idle is not None and idle.count == 8 and idle.reason == "8 idle core(s)"
    loaded = resolve_threads("auto", CPU, encoders_in_loop=in_loop, busy=3)
    assert loaded is not None and loaded.count == 5 and "3 other runnable" in loaded.reason
    swamped = resolve_threads("auto", CPU, encoders_in_loop=in_loop, busy=20)
    assert swamped is not None and swamped.count == 1
    # without encoders in the loop, every epoch looks again (this process has no helpers to mistake for others)
    assert idle.adaptive is (not in_loop) and idle.cores == 8


def test_a_tiny_step_on_cached_features_trains_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    tiny = resolve_threads("auto", CPU, encoders_in_loop=False, step_work=12_194 * 16, busy=0)
    assert tiny is not None and tiny.count == 1 and not tiny.adaptive and "small step" in tiny.reason
    bigger = resolve_threads("auto", CPU, encoders_in_loop=False, step_work=TINY_STEP, busy=0)
    assert bigger is not None and bigger.count == 8 and bigger.adaptive
    in_loop = resolve_threads("auto", CPU, encoders_in_loop=True, step_work=10, busy=0)  # an encoder is big enough
    assert in_loop is not None and in_loop.count == 8 and not in_loop.adaptive
    compiled = resolve_threads("auto", CPU, encoders_in_loop=False, step_work=TINY_STEP, compiled=True, busy=0)
    assert compiled is not None and not compiled.adaptive  # compiled kernels keep their thread count


def test_an_adaptive_choice_follows_the_load_from_epoch_to_epoch() -> None:
    choice = ThreadChoice(8, "8 idle core(s)", cores=8, adaptive=True)
    busier = choice.for_epoch(busy=6)
    assert busier.count == 2 and busier.cores == 8 and busier.adaptive
    assert busier.for_epoch(busy=0).count == 8  # the load ended: the cores come back
    fixed = ThreadChoice(3, "as asked", cores=3)
    assert fixed.for_epoch(busy=6) is fixed


def test_the_loop_sets_each_epochs_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from mmfusion.runtime import threads
    from mmfusion.training.loop import _retune_threads

    logged: list[str] = []
    ctx = SimpleNamespace(threads=ThreadChoice(2, "2 idle core(s)", cores=2, adaptive=True), epoch=1, next_epoch=1,
                          threads_per_epoch=[], reporter=SimpleNamespace(log=logged.append))
    before = torch.get_num_threads()
    load = iter([1, 0])
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: next(load))
    try:
        with intra_op_threads(2):
            _retune_threads(ctx)  # type: ignore[arg-type]  # the first epoch keeps the choice made before it
            ctx.epoch = 2
            _retune_threads(ctx)  # type: ignore[arg-type]  # another process became runnable
            assert torch.get_num_threads() == 1
            ctx.epoch = 3
            _retune_threads(ctx)  # type: ignore[arg-type]  # and finished
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert ctx.threads_per_epoch == [2, 1, 2]
    assert logged[0].startswith("threads 2 → 1 (1 other runnable thread(s) on 2 core(s)") and logged[1] == (
        "threads 1 → 2 (2 idle core(s))")


def test_an_explicit_count_is_kept_and_a_gpu_is_left_alone() -> None:
    assert resolve_threads(3, CPU, encoders_in_loop=False, busy=5).count == 3  # type: ignore[union-attr]
    assert resolve_threads("auto", torch.device("cuda"), encoders_in_loop=True) is None
    with pytest.raises(MMFusionError, match="at least 1"):
        resolve_threads(0, CPU, encoders_in_loop=True)


def test_the_spec_refuses_a_count_below_one() -> None:
    with pytest.raises(MMFusionError, match=r"train\.threads.*at least 1"):
        load_spec({"model": {"encoders": {"text": {"type": "hf_text", "path": "x"}}, "fusion": {"type": "concat"}},
                   "train": {"threads": 0}})
    assert load_spec({"model": {"encoders": {"text": {"type": "hf_text", "path": "x"}}, "fusion": {"type": "concat"}},
                      "train": {"threads": 2}}).train.threads == 2


def _tasks(folder: Path, states: str) -> str:
    """A fake /proc/self/task: one thread per letter of ``states`` (R running, S sleeping)."""
    for tid, state in enumerate(states, start=100):
        (folder / str(tid)).mkdir(parents=True)
        (folder / str(tid) / "stat").write_text(f"{tid} (python (x)) {state} 1 2 3\n")
    return str(folder)


def test_busy_threads_are_read_from_the_kernels_runnable_count(tmp_path: Path) -> None:
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("1.50 0.80 0.40 4/312 12345\n")
    alone = _tasks(tmp_path / "alone", "RSS")
    assert busy_elsewhere(samples=3, interval=0, source=str(loadavg), own=alone) == 3  # this thread is one of four
    # this process's own spinning workers are not "other work"
    spinning = _tasks(tmp_path / "spinning", "RRRS")
    assert busy_elsewhere(samples=1, source=str(loadavg), own=spinning) == 1
    loadavg.write_text("0.00 0.00 0.00 1/100 1\n")
    assert busy_elsewhere(samples=1, source=str(loadavg), own=alone) == 0
    assert busy_elsewhere(samples=1, source=str(tmp_path / "missing")) == 0  # not Linux: unknown, assume idle
    assert busy_elsewhere(samples=1, source=str(tmp_path / "loadavg"), own=str(tmp_path / "none")) == 0


def test_the_count_is_restored_after_the_block() -> None:
    before = torch.get_num_threads()
    with intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with intra_op_threads(None):
        assert torch.get_num_threads() == before


def test_a_run_records_the_threads_it_trained_with(xor_run) -> None:  # type: ignore[no-untyped-def]
    summary = json.loads((xor_run.run_dir / "summary.json").read_text())
    assert summary["compiled"] is False
    # frozen, cached encoders and a tiny head in batches of 16: one thread, every epoch
    assert summary["threads"] == 1 and summary["threads_per_epoch"] is None
