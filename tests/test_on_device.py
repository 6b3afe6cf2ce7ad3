"""The checks that matter on an accelerator, run on the device named by MMFUSION_TEST_DEVICE (default: cpu).

benchmarks/gpu_check.sh runs them with MMFUSION_TEST_DEVICE=cuda: training with encoders in the loop at the
precision `auto` picks there (bf16/fp16 autocast, gradient scaling, channels_last), and a run trained on one
device predicting the same on another.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mmfusion.api import fit
from mmfusion.prediction.predictor import Predictor
from mmfusion.runtime.precision import resolve_precision

from .conftest import xor_spec

DEVICE = os.environ.get("MMFUSION_TEST_DEVICE", "cpu")


@pytest.fixture(scope="module")
def device() -> torch.device:
    chosen = torch.device(DEVICE)
    if chosen.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("MMFUSION_TEST_DEVICE names CUDA, which is not available here")
    return chosen


def test_auto_precision_on_the_device(device: torch.device) -> None:
    chosen = resolve_precision("auto", device)
    if device.type == "cuda":
        assert chosen.name == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
        assert (chosen.grad_scaler() is not None) == (chosen.name == "fp16")
    else:
        assert chosen.name in {"fp32", "bf16"} and chosen.grad_scaler() is None


@pytest.mark.slow
def test_fine_tuning_on_the_device_learns_and_predicts_the_same_on_the_cpu(
        device: torch.device, xor_data: Path, tiny_bert: Path, feature_cache: Path, tmp_path: Path) -> None:
    """Encoders in the loop (nothing cached) at auto precision; the run then predicts on the CPU alike."""
    spec = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, freeze=False, epochs=10,
                    extra="  encoder_lr: 0.001\n")
    result = fit(spec, out=tmp_path / "run", device=str(device))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["device"].startswith(device.type) and summary["cached_modalities"] == []
    assert result.test_metrics is not None and result.test_metrics["accuracy"] >= 0.75  # chance is 0.5
    table = pd.read_csv(xor_data).head(24)
    on_device = Predictor(tmp_path / "run", device=str(device)).predict_table(table, root=xor_data.parent)
    on_cpu = Predictor(tmp_path / "run", device="cpu").predict_table(table, root=xor_data.parent)
    columns = [c for c in on_cpu.columns if c.startswith("p_")]
    # bf16/fp16 autocast on the device against fp32 or bf16 on the CPU: probabilities agree to autocast's rounding
    assert np.allclose(on_device[columns].to_numpy(), on_cpu[columns].to_numpy(), atol=0.05)
    assert (on_device["predicted"] == on_cpu["predicted"]).mean() >= 0.9
