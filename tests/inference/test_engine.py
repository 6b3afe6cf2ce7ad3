"""One inference path: evaluation and prediction run through the engine and never import training."""

from __future__ import annotations

import ast
from pathlib import Path

import torch

import mmfusion
from mmfusion.inference.backends import TorchBackend
from mmfusion.inference.engine import InferenceEngine
from mmfusion.model.builder import build_model
from mmfusion.model.featurizer import example_batch
from mmfusion.runtime.precision import resolve_precision
from mmfusion.spec import load_spec

PACKAGE = Path(mmfusion.__file__).parent


def _imports_training(path: Path) -> list[str]:
    """The imports of ``path`` that reach mmfusion.training (absolute or relative)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            absolute = module if node.level == 0 else ".".join(
                [*path.relative_to(PACKAGE.parent).with_suffix("").parts[:-node.level], *module.split(".")])
            names = [f"{absolute}.{alias.name}" for alias in node.names]
            found += [n for n in [absolute, *names] if n.startswith("mmfusion.training")]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("mmfusion.training")]
    return sorted(set(found))


def test_evaluation_and_inference_do_not_import_training() -> None:
    offenders = {str(path.relative_to(PACKAGE)): _imports_training(path)
                 for folder in ("evaluation", "inference") for path in (PACKAGE / folder).glob("*.py")
                 if _imports_training(path)}
    assert offenders == {}
    # the check itself sees relative imports
    assert _imports_training(PACKAGE / "training" / "loop.py")


def test_engine_predicts_scores_labels_and_loss_with_inputs_removed(tmp_path: Path, tiny_bert: Path) -> None:
    spec = load_spec({"model": {"encoders": {"image": {"type": "timm", "model_name": "test_efficientnet",
                                                       "image_size": 32},
                                             "text": {"type": "hf_text", "path": str(tiny_bert)}},
                                "fusion": "concat"}})
    torch.manual_seed(0)
    model = build_model(spec, 3)
    batches = []
    for seed in range(2):
        batch = example_batch(model, size=4, seed=seed)
        batch.labels = torch.tensor([0, 1, 2, seed])
        batches.append(batch)
    cpu = torch.device("cpu")
    engine = InferenceEngine(TorchBackend(model, resolve_precision("fp32", cpu)), cpu, torch.sigmoid, 3)
    loss = torch.nn.CrossEntropyLoss()
    full = engine.predict(batches, loss=loss)
    assert full.probabilities.shape == (8, 3) and full.labels.tolist() == [0, 1, 2, 0, 0, 1, 2, 1]
    assert torch.allclose(torch.from_numpy(full.probabilities), torch.sigmoid(torch.from_numpy(full.logits)))
    expected = sum(float(loss(torch.from_numpy(full.logits[i:i + 4]), b.labels)) * 4
                   for i, b in zip((0, 4), batches)) / 8
    assert abs(full.loss - expected) < 1e-5
    without_image = engine.predict(batches, absent=["image"])
    assert without_image.loss is None and not (without_image.logits == full.logits).all()
    assert not model.training
    batches[0].present["text"][:2] = False  # two rows without the text: their filler is not the text's vector
    pooled = engine.predict(batches, pooled=True).pooled
    for m in ("image", "text"):  # example batches leave some inputs out too
        assert pooled[m].shape[0] == sum(int(b.present[m].sum()) for b in batches)
    assert sum(int(b.present["text"].sum()) for b in batches) <= 6
