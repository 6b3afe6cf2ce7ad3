"""Export: ONNX (run with onnxruntime) and TorchScript match PyTorch, with and without absent modalities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mmfusion.cli import cli
from mmfusion.export.exporters import export_run
from mmfusion.export.wrapper import flatten, interface_for
from mmfusion.model.builder import build_model
from mmfusion.run.load import LoadedRun, RunPaths
from mmfusion.spec import load_spec

pytestmark = pytest.mark.slow  # every test exports a model (and most check it with onnxruntime)

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def _loaded(tmp_path: Path, tiny_bert: Path, fusion: dict, head: dict | None = None) -> LoadedRun:
    model = {"encoders": {"image": {"type": "timm", "model_name": "test_efficientnet", "image_size": 32},
                          "text": {"type": "hf_text", "path": str(tiny_bert)}}, "fusion": fusion}
    if head:
        model["head"] = head
    spec = load_spec({"model": model})
    torch.manual_seed(0)
    return LoadedRun(RunPaths(tmp_path), spec, ["a", "b", "c"], build_model(spec, 3).eval(), {}, {}, "multiclass")


@pytest.mark.parametrize("fusion", [
    {"type": "missing_modality", "inner": {"type": "attention", "dim": 32, "num_heads": 2}},
    {"type": "late", "hidden_dims": [16]},
])
def test_onnx_matches_pytorch_with_absent_modalities(fusion: dict, tmp_path: Path, tiny_bert: Path) -> None:
    run = _loaded(tmp_path, tiny_bert, fusion)
    result = export_run(run, "onnx", tmp_path / "m.onnx")
    assert set(result.max_abs_diff) == {"all present", "some absent"}
    assert max(result.max_abs_diff.values()) < 1e-4
    # other batch sizes and text lengths than the example used for tracing
    import onnxruntime as ort

    from mmfusion.model.featurizer import make_batch

    interface, _ = interface_for(run.model)
    batch = make_batch(run.model, [{"text": "a much longer question about the red circle in the image today"},
                                   {"image": run.model.encoders["image"].example_input(__import__("random")
                                                                                       .Random(3))}])
    tensors = flatten(batch, interface.layout)
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    got = session.run(None, {n: t.numpy() for n, t in zip(interface.input_names, tensors)})[0]
    with torch.inference_mode():
        expected = interface(*tensors).numpy()
    assert got.shape == (2, 3) and np.abs(got - expected).max() < 1e-4
    meta = json.loads(result.metadata_path.read_text())
    assert meta["labels"] == ["a", "b", "c"] and meta["output"]["name"] == "logits"
    assert [i["name"] for i in meta["inputs"]] == ["image.pixels", "image.present", "text.attention_mask",
                                                   "text.input_ids", "text.present"]
    assert meta["preprocessing"]["image"]["image_size"] == 32
    image = meta["preprocessing"]["image"]
    assert image["interpolation"] in {"bilinear", "bicubic"} and "center-crop" in image["steps"]
    assert meta["preprocessing"]["text"]["max_length"] == 128


@pytest.mark.parametrize("fusion", ["concat", "attention", "missing_modality", "gated", "late", "tensor",
                                    "low_rank_tensor", "film", "sum", "mean"])
def test_every_fusion_exports_to_torchscript(fusion: str, tmp_path: Path, tiny_bert: Path) -> None:
    config = {"type": fusion}
    if fusion == "attention":
        config.update(dim=32, num_heads=2)
    result = export_run(_loaded(tmp_path, tiny_bert, config), "torchscript", tmp_path / "m.pt")
    assert max(result.max_abs_diff.values()) < 1e-5


def test_export_command(xor_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, ["export", str(xor_run.run_dir), "--format", "torchscript",
                                      "--out", str(tmp_path / "model.pt")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "model.pt").exists() and (tmp_path / "model.pt.json").exists()
    assert "some absent: max" in result.output
    bad = CliRunner().invoke(cli, ["export", str(tmp_path), "--format", "onnx"])
    assert bad.exit_code == 2 and "not a run directory" in bad.output


def test_the_quality_gate_and_dynamic_mixture_export_to_onnx(tmp_path: Path, tiny_bert: Path) -> None:
    """The gate is part of the model: the exported graph drops the far-off inputs the PyTorch model drops."""
    from mmfusion.inference.drift import fit_reference
    from mmfusion.model.featurizer import example_batch
    from mmfusion.run.load import LoadedRun, RunPaths
    from mmfusion.training.callbacks.drift import fit_gate

    model = {"encoders": {"image": {"type": "timm", "model_name": "test_efficientnet", "image_size": 32},
                          "text": {"type": "hf_text", "path": str(tiny_bert)}}, "fusion": {"type": "concat"}}
    spec = load_spec({"model": model, "train": {"quality_gate": {"factor": 1.0},
                                                "aux_unimodal": {"inference": "dynamic"}}})
    torch.manual_seed(0)
    built = build_model(spec, 3).eval()
    batch = example_batch(built, size=64, seed=1)
    with torch.no_grad():
        encoded = built.encode(batch)
    fit_gate(built.gate, {m: fit_reference(o.pooled.numpy()) for m, o in encoded.items()}, factor=1.0)
    built.gate.inputs["image"].threshold.fill_(1e-9)  # every picture is beyond it: dropped where a text is left
    with torch.no_grad():
        gated = built.gate(encoded, batch.present)
    assert not (gated["image"] & batch.present["text"]).any() and gated["image"].any()
    run = LoadedRun(RunPaths(tmp_path), spec, ["a", "b", "c"], built, {}, {}, "multiclass")
    result = export_run(run, "onnx", tmp_path / "m.onnx")
    assert max(result.max_abs_diff.values()) < 1e-4
