"""Precision: what auto picks per device, fp16 needs CUDA to train, and any run can be used for inference anywhere."""

from __future__ import annotations

import pytest
import torch

from mmfusion.errors import MMFusionError
from mmfusion.runtime import precision as precision_module
from mmfusion.runtime.precision import inference_precision, resolve_precision

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


@pytest.mark.parametrize(("amx", "avx512_bf16", "expected"),
                         [(True, False, "bf16"), (False, True, "bf16"), (False, False, "fp32")])
def test_auto_follows_the_cpus_probed_capabilities(monkeypatch: pytest.MonkeyPatch, amx: bool, avx512_bf16: bool,
                                                    expected: str) -> None:
    """The probe itself mocked: AMX or AVX512-BF16 → bf16 (native bf16 dot products: measured 2.2x fp32's GEMM
    throughput on an AVX512-BF16 EPYC, see benchmarks/README.md); neither → fp32 (bf16 emulated, ~10x slower)."""
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    assert resolve_precision("auto", CPU).name == expected
    assert inference_precision("bf16", CPU).name == expected


def test_a_torch_without_the_probes_counts_as_no_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    assert resolve_precision("auto", CPU).name == "fp32"
