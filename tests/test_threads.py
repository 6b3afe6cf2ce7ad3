"""Thread counts: what auto picks for which run and machine load, explicit counts, and the count restored after."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mmfusion.errors import MMFusionError
from mmfusion.spec import load_spec
from mmfusion.threads import SMALL_TRAINABLE, busy_elsewhere, intra_op_threads, resolve_threads

CPU = torch.device("cpu")


def test_a_small_head_on_cached_features_trains_on_one_thread() -> None:
    choice = resolve_threads("auto", CPU, encoders_in_loop=False, trainable_parameters=200_000, busy=0)
    assert choice is not None and choice.count == 1 and "cached features" in choice.reason


@pytest.mark.parametrize(("in_loop", "trainable"), [(True, 1000), (False, SMALL_TRAINABLE + 1)])
def test_encoders_in_the_loop_or_a_large_head_use_every_idle_core(monkeypatch: pytest.MonkeyPatch, in_loop: bool,
                                                                  trainable: int) -> None:
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    idle = resolve_threads("auto", CPU, encoders_in_loop=in_loop, trainable_parameters=trainable, busy=0)
    assert idle is not None and idle.count == 8
    loaded = resolve_threads("auto", CPU, encoders_in_loop=in_loop, trainable_parameters=trainable, busy=3)
    assert loaded is not None and loaded.count == 5 and "3 other runnable" in loaded.reason
    swamped = resolve_threads("auto", CPU, encoders_in_loop=in_loop, trainable_parameters=trainable, busy=20)
    assert swamped is not None and swamped.count == 1


def test_an_explicit_count_is_kept_and_a_gpu_is_left_alone() -> None:
    assert resolve_threads(3, CPU, encoders_in_loop=False, trainable_parameters=10, busy=5).count == 3  # type: ignore
    assert resolve_threads("auto", torch.device("cuda"), encoders_in_loop=True, trainable_parameters=10) is None
    with pytest.raises(MMFusionError, match="at least 1"):
        resolve_threads(0, CPU, encoders_in_loop=True, trainable_parameters=10)


def test_the_spec_refuses_a_count_below_one() -> None:
    with pytest.raises(MMFusionError, match=r"train\.threads.*at least 1"):
        load_spec({"model": {"encoders": {"text": {"type": "hf_text", "path": "x"}}, "fusion": {"type": "concat"}},
                   "train": {"threads": 0}})
    assert load_spec({"model": {"encoders": {"text": {"type": "hf_text", "path": "x"}}, "fusion": {"type": "concat"}},
                      "train": {"threads": 2}}).train.threads == 2


def test_busy_threads_are_read_from_the_kernels_runnable_count(tmp_path: Path) -> None:
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("1.50 0.80 0.40 4/312 12345\n")
    assert busy_elsewhere(samples=3, interval=0, source=str(loadavg)) == 3  # this thread is one of the four
    loadavg.write_text("0.00 0.00 0.00 1/100 1\n")
    assert busy_elsewhere(samples=1, source=str(loadavg)) == 0
    assert busy_elsewhere(samples=1, source=str(tmp_path / "missing")) == 0  # not Linux: unknown, assume idle


def test_the_count_is_restored_after_the_block() -> None:
    before = torch.get_num_threads()
    with intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with intra_op_threads(None):
        assert torch.get_num_threads() == before


def test_a_run_records_the_threads_it_trained_with(xor_run) -> None:  # type: ignore[no-untyped-def]
    summary = json.loads((xor_run.run_dir / "summary.json").read_text())
    assert summary["threads"] == 1 and summary["compiled"] is False  # frozen, cached encoders and a small fusion
