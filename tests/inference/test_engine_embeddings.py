"""The engine returns the fused vector (the head's input) of every row from the pass that scores it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mmfusion.inference.backends import OnnxBackend, TorchBackend
from mmfusion.inference.engine import InferenceEngine
from mmfusion.model.builder import build_model
from mmfusion.model.featurizer import example_batch
from mmfusion.runtime.precision import resolve_precision
from mmfusion.spec import load_spec


def test_fused_vectors_are_the_fusion_output_and_the_heads_input(tiny_bert: Path) -> None:
    spec = load_spec({"model": {"encoders": {"image": {"type": "timm", "model_name": "test_efficientnet",
                                                       "image_size": 32},
                                             "text": {"type": "hf_text", "path": str(tiny_bert)}},
                                "fusion": {"type": "attention", "dim": 16, "num_heads": 2}}})
    torch.manual_seed(0)
    model = build_model(spec, 3).eval()
    batches = [example_batch(model, size=4, seed=seed) for seed in range(2)]  # some rows lack an input
    cpu = torch.device("cpu")
    engine = InferenceEngine(TorchBackend(model, resolve_precision("fp32", cpu)), cpu, torch.sigmoid, 3)
    found = engine.predict(batches, fused=True)
    assert found.fused is not None and found.fused.shape == (8, model.fusion.output_dim)
    assert found.pooled is None and set(found.present) == {"image", "text"}  # presence comes with the vectors
    with torch.inference_mode():
        direct = torch.cat([model.fusion(model.encode(b), b.present) for b in batches])
        assert torch.allclose(torch.from_numpy(found.fused), direct, atol=1e-6)
        assert torch.allclose(model.head(torch.from_numpy(found.fused)), torch.from_numpy(found.logits), atol=1e-5)
    assert found.present["text"].tolist() == torch.cat([b.present["text"] for b in batches]).tolist()
    assert engine.predict(batches).fused is None  # not asked: not kept


def test_an_onnx_engine_has_no_fused_vectors() -> None:
    cpu = torch.device("cpu")
    engine = InferenceEngine(OnnxBackend(session=None, input_names=[]), cpu, torch.sigmoid, 2)
    with pytest.raises(TypeError, match="ONNX Runtime session"):
        engine.predict([], fused=True)
