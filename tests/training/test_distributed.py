"""torchrun DDP on the CPU (gloo, 2 processes) matches one process with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmfusion.api import fit
from mmfusion.training.distributed import Distributed, shard

from ..conftest import xor_spec

# Same global batches, summed in another order: the two runs drift apart only by float rounding. AdamW divides
# by sqrt(v): where a gradient is near zero, rounding can flip the sign of a whole lr-sized step (lr 0.01 here),
# so single weights are compared at the scale of one step and the typical weight much more tightly.
TOLERANCE = {"loss": 1e-3, "weights": 0.021, "mean_weight": 1e-3}


def test_shards_rebuild_the_global_batches() -> None:
    order = torch.randperm(23, generator=torch.Generator().manual_seed(0))
    parts = [shard(order, Distributed(2, rank, rank)) for rank in (0, 1)]
    assert len(parts[0]) == len(parts[1]) == 12  # padded with one repeated sample
    first_global_batch = set(parts[0][:4].tolist()) | set(parts[1][:4].tolist())
    assert first_global_batch == set(order[:8].tolist())


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process_and_resume(xor_data: Path, tiny_bert: Path, feature_cache: Path,
                                                             tmp_path: Path) -> None:
    from safetensors.torch import load_file

    common = dict(epochs=3, fusion="{type: concat, projection_dim: 32}", extra="  calibration: temperature\n")
    single = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, name="single.yaml", **common)
    single.write_text(single.read_text().replace("batch_size: 16", "batch_size: 16"))
    double = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, name="ddp.yaml", **common)
    double.write_text(double.read_text().replace("batch_size: 16", "batch_size: 8"))  # × 2 processes
    one = fit(single, out=tmp_path / "one")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "mmfusion", "train", str(double), "--out", str(tmp_path / "two"), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    import json

    two = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert two["epochs_run"] == 3 and two["data"]["train"]["rows"] == one.summary["data"]["train"]["rows"]
    final_one, final_two = one.history[-1], two["final"]
    assert abs(final_one["train_loss"] - final_two["train_loss"]) < TOLERANCE["loss"]
    assert abs(final_one["val_loss"] - final_two["val_loss"]) < TOLERANCE["loss"]
    assert final_one["val_accuracy"] == final_two["val_accuracy"]
    w_one = load_file(str(tmp_path / "one" / "weights.safetensors"))
    w_two = load_file(str(tmp_path / "two" / "weights.safetensors"))
    assert max(float((w_one[k] - w_two[k]).abs().max()) for k in w_one) < TOLERANCE["weights"]
    trained = [k for k in w_one if not k.startswith("encoders.")]  # the encoders are frozen: equal anyway
    differences = torch.cat([(w_one[k].float() - w_two[k].float()).abs().flatten() for k in trained])
    assert float(differences.mean()) < TOLERANCE["mean_weight"]
    assert (tmp_path / "two" / "plots" / "training_curves.png").exists()
    # the temperature: every process gathers the whole validation split and fits the same one as one process
    (t_one,), (t_two,) = (json.loads((tmp_path / r / "calibration.json").read_text())["temperatures"].values()
                          for r in ("one", "two"))
    assert t_two == pytest.approx(t_one, rel=0.02)
    assert set(two["test"]["reliance"]["share"]) == {"image", "text"} and "ece" in two["test"]["calibration"]

    # --resume under torchrun continues the same run (one more epoch), as one process would
    longer = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, name="ddp-longer.yaml", **{**common, "epochs": 4})
    longer.write_text(longer.read_text().replace("batch_size: 16", "batch_size: 8"))
    command[command.index(str(double))] = str(longer)
    done = subprocess.run([*command, "--resume"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    history = [int(line.split(",")[0]) for line in (tmp_path / "two" / "metrics.csv").read_text().splitlines()[1:]]
    assert history == [1, 2, 3, 4]
    assert json.loads((tmp_path / "two" / "summary.json").read_text())["epochs_run"] == 4

