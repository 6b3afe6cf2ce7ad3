"""train.compile: the loop trains through torch.compile's module; without a C++ compiler on the CPU, a clear error."""

from __future__ import annotations

import pytest
import torch

from mmfusion.errors import MMFusionError
from mmfusion.progress import Reporter
from mmfusion.training import compiled as compiled_module
from mmfusion.training.compiled import compiled

CPU = torch.device("cpu")


def test_off_the_module_is_trained_as_it_is() -> None:
    module = torch.nn.Linear(2, 2)
    assert compiled(module, False, CPU, Reporter(False)) is module


def test_on_the_loop_gets_a_compiled_module_sharing_the_parameters() -> None:
    module = torch.nn.Linear(2, 2)
    wrapped = compiled(module, True, CPU, Reporter(False))
    assert wrapped is not module and wrapped._orig_mod is module  # type: ignore[attr-defined]
    assert list(wrapped.parameters()) == list(module.parameters())  # the optimiser's parameters are the model's


def test_without_a_cpp_compiler_it_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled_module.shutil, "which", lambda name: None)
    with pytest.raises(MMFusionError, match="needs a C\\+\\+ compiler.*train.compile: false"):
        compiled(torch.nn.Linear(2, 2), True, CPU, Reporter(False))


@pytest.mark.slow
def test_a_compiled_run_trains_and_writes_the_same_files(monkeypatch: pytest.MonkeyPatch, xor_data, tiny_bert,
                                                         feature_cache, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Through dynamo (its eager backend here: the C++ code generation is what takes minutes on a CPU)."""
    import json

    from mmfusion.api import fit

    from ..conftest import xor_spec

    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda module: real_compile(module, backend="eager"))
    spec = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=2, extra="  compile: true\n")
    result = fit(spec, out=tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["compiled"] is True and len(result.history) == 2
    from safetensors.torch import load_file

    assert not any(k.startswith("_orig_mod") for k in load_file(str(tmp_path / "run" / "weights.safetensors")))
