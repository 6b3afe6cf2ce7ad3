"""Absurd sizes in a spec: refused fast, naming the component's spec path and the setting, never an allocator
crash or minutes of paging."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mmfusion.cli import cli
from mmfusion.errors import MMFusionError
from mmfusion.model.build_checks import failure_message, size_settings
from mmfusion.model.builder import build_fusion, build_model
from mmfusion.spec import load_spec

from ..conftest import write_spec

GB = 10**9


@pytest.fixture
def eight_gb_free(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same answer on every machine: 8 GB free."""
    monkeypatch.setattr("mmfusion.model.build_checks.free_memory", lambda: 8 * GB)


def _spec(tiny_bert: Path, model: str) -> dict:
    import yaml

    return {"model": {"encoders": {"text": {"type": "hf_text", "path": str(tiny_bert)}}, **yaml.safe_load(model)}}


def _build_error(tiny_bert: Path, model: str) -> str:
    spec = load_spec(_spec(tiny_bert, model))
    started = time.perf_counter()
    with pytest.raises(MMFusionError) as info:
        build_model(spec, 2)
    assert time.perf_counter() - started < 5
    return str(info.value)


@pytest.mark.usefixtures("eight_gb_free")
@pytest.mark.parametrize("model, expected", [
    ("fusion: {type: attention, dim: 100000000, num_heads: 4}",
     "model.fusion (attention): cannot build it with these settings: its parameters would take 320 PB"),
    ("{fusion: concat, head: {type: mlp, hidden_dims: [100000000]}}",
     "model.head (mlp): cannot build it with these settings: its parameters would take 14.4 GB (about 57.6 GB to "
     "train, with gradients and optimiser state) and 8.0 GB of memory is free; check sizes such as "
     "hidden_dims: [100000000]"),
    ("fusion: {type: concat, projection_dim: 100000000}",
     "model.fusion (concat): cannot build it with these settings: its parameters would take 14.0 GB"),
    ("fusion: {type: missing_modality, inner: {type: attention, dim: 100000000, num_heads: 4}}",
     "model.fusion.inner (attention): cannot build it with these settings"),
])
def test_sizes_too_big_for_memory_are_refused_before_allocating(tiny_bert: Path, model: str, expected: str) -> None:
    message = _build_error(tiny_bert, model)
    assert expected in message
    assert "check sizes such as" in message and "100000000" in message


def test_allocator_failure_names_component_and_setting(tiny_bert: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mmfusion.model.build_checks.free_memory", lambda: None)  # no estimate: torch itself fails
    message = _build_error(tiny_bert, "fusion: {type: concat, projection_dim: 10000000000000000}")
    assert message.startswith("model.fusion (concat): cannot build it with these settings: could not allocate memory")
    assert message.endswith("check sizes such as projection_dim: 10000000000000000")
    assert "enforce fail" not in message and "DefaultCPUAllocator" not in message


def test_torch_errors_for_bad_plugin_settings_name_the_setting(tiny_bert: Path) -> None:
    spec = load_spec({"model": {"encoders": {"text": {"type": "hf_text", "path": str(tiny_bert), "pretrained": False,
                                                      "config_overrides": {"intermediate_size": -5}}},
                                "fusion": "concat"}})
    with pytest.raises(MMFusionError) as info:
        build_model(spec, 2)
    message = str(info.value)
    assert message.startswith("model.encoders.text (hf_text): cannot build it with these settings: RuntimeError:")
    assert "negative dimension" in message
    assert message.endswith("check sizes such as config_overrides.intermediate_size: -5")


def test_failure_message_reads_torch_allocator_errors() -> None:
    error = RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                         "you tried to allocate 12800000000 bytes. Error code 12 (Cannot allocate memory)")
    config = {"type": "attention", "dim": 100000000, "num_heads": 4, "inner": {"hidden_dims": [16, 2000000]}}
    assert failure_message(error, config) == (
        "cannot build it with these settings: could not allocate memory (12.8 GB asked for at once); "
        "check sizes such as dim: 100000000, inner.hidden_dims: [16, 2000000]")
    assert failure_message(MemoryError(), {"dim": 8}).endswith("could not allocate memory; check its sizes")
    stack = RuntimeError("bad\nException raised from f at x.cpp:1 (most recent call first):\nframe #0: ...")
    assert failure_message(stack, {"dim": 8}) == "building it failed: RuntimeError: bad"
    assert size_settings({"flag": True, "seed": 3, "n": -1}) == ["n: -1"]


def test_the_estimate_draws_no_random_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A large but affordable size is estimated on the meta device first: the weights are the same as without."""
    from mmfusion.default_plugins.concat import ConcatFusion

    monkeypatch.setattr("mmfusion.model.build_checks.free_memory", lambda: 1000 * GB)
    config = ConcatFusion.Config(projection_dim=10000)
    torch.manual_seed(0)
    built = build_fusion(config, {"text": 32}).state_dict()
    torch.manual_seed(0)
    direct = ConcatFusion(config, {"text": 32}).state_dict()
    assert built.keys() == direct.keys() and all(torch.equal(built[k], direct[k]) for k in built)
    with pytest.raises(MMFusionError, match=r"^fusion \(concat\): cannot build it"):  # no spec path: its kind
        build_fusion(ConcatFusion.Config(projection_dim=10**16), {"text": 32})


@pytest.mark.usefixtures("eight_gb_free")
def test_cli_build_reports_an_absurd_size_as_a_user_error(tmp_path: Path, tiny_bert: Path) -> None:
    path = write_spec(tmp_path, f"model:\n  encoders:\n    text: {{type: hf_text, path: {tiny_bert}}}\n"
                                "  fusion: {type: attention, dim: 100000000, num_heads: 4}\n")
    result = CliRunner().invoke(cli, ["build", str(path), "--no-forward"])
    assert result.exit_code == 2, result.output
    assert "error: model.fusion (attention): cannot build it with these settings" in result.output
    assert "dim: 100000000" in result.output and "internal error" not in result.output
