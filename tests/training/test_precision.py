"""Precision: what auto picks per device, fp16 needs CUDA to train, and any run can be used for inference anywhere."""

from __future__ import annotations

import pytest
import torch

from mmfusion import precision as precision_module
from mmfusion.errors import MMFusionError
from mmfusion.precision import inference_precision, resolve_precision

CPU = torch.device("cpu")


@pytest.mark.parametrize(("fast_bf16", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_on_cpu_uses_bf16_only_where_it_is_native(monkeypatch: pytest.MonkeyPatch, fast_bf16: bool,
                                                       expected: str) -> None:
    monkeypatch.setattr(precision_module, "cpu_has_fast_bf16", lambda: fast_bf16)
    chosen = resolve_precision("auto", CPU)
    assert chosen.name == expected and chosen.reason
    assert (chosen.dtype is None) == (expected == "fp32")


def test_training_with_fp16_needs_cuda() -> None:
    with pytest.raises(MMFusionError, match="fp16 needs a CUDA device"):
        resolve_precision("fp16", CPU)


def test_explicit_bf16_on_an_emulating_cpu_says_why_it_is_slow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision_module, "cpu_has_fast_bf16", lambda: False)
    chosen = resolve_precision("bf16", CPU)
    assert chosen.name == "bf16" and "emulated" in chosen.reason


@pytest.mark.parametrize(("trained", "fast_bf16", "expected"),
                         [("fp16", False, "fp32"), ("fp16", True, "bf16"), ("bf16", False, "fp32"),
                          ("bf16", True, "bf16"), ("fp32", True, "fp32"), ("auto", False, "fp32")])
def test_runs_trained_at_any_precision_predict_on_the_cpu(monkeypatch: pytest.MonkeyPatch, trained: str,
                                                          fast_bf16: bool, expected: str) -> None:
    monkeypatch.setattr(precision_module, "cpu_has_fast_bf16", lambda: fast_bf16)
    assert inference_precision(trained, CPU).name == expected
