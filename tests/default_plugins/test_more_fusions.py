"""The ablation fusions: each learns a task that needs both modalities, and their own specifics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mmfusion.api import fit
from mmfusion.default_plugins.film import FilmConfig, FilmFusion
from mmfusion.default_plugins.late import LateConfig, LateFusion
from mmfusion.default_plugins.tensor import TensorConfig, TensorFusion
from mmfusion.errors import PluginError, SpecError
from mmfusion.model.builder import build_model
from mmfusion.spec import load_spec
from mmfusion.testing.data import make_xor_dataset
from mmfusion.testing.fusion_checks import make_outputs, make_present

from ..conftest import xor_spec

DIMS = {"text": 12, "image": 8, "extra": 6}


@pytest.fixture(scope="module")
def pairs_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_xor_dataset(tmp_path_factory.mktemp("pairs"), n=300, task="pairs")


@pytest.mark.parametrize("fusion", [
    "{type: gated, dim: 32}",
    "{type: late, hidden_dims: [32]}",
    "{type: late, hidden_dims: [32], combine: learned}",
    "{type: tensor, dim: 8}",
    "{type: low_rank_tensor, dim: 32, rank: 4}",
    "{type: film, dim: 32}",
    "{type: sum, dim: 32}",
    "{type: mean, dim: 32}",
])
@pytest.mark.slow
def test_fusion_learns_a_task_that_needs_both_modalities(fusion: str, pairs_data: Path, tiny_bert: Path,
                                                         feature_cache: Path, tmp_path: Path) -> None:
    # 4 classes = (colour tone, keyword): either modality alone can reach at most 50%
    head = "" if "late" in fusion else None
    spec_path = xor_spec(tmp_path, pairs_data, tiny_bert, feature_cache, fusion=fusion, epochs=15)
    if head is not None:  # late fusion makes its own logits: no head section
        text = spec_path.read_text()
        spec_path.write_text(text.replace("  head: {type: mlp, hidden_dims: [32], dropout: 0.0}\n", ""))
    result = fit(spec_path, out=tmp_path / "run")
    assert result.test_metrics["accuracy"] >= 0.8, fusion


def test_tensor_width_and_absent_modality_reduces_to_the_others() -> None:
    fusion = TensorFusion(TensorConfig(dim=3), DIMS).eval()
    assert fusion.output_dim == 4 ** 3
    out = fusion(make_outputs(), make_present())
    # row 4 has only 'image' (extra and text absent): only the terms 1 ⊗ h_image ⊗ 1 can be non-zero
    grid = out[4].view(4, 4, 4)  # (extra, image, text) in sorted order
    assert grid[0, 0, 0] == 1 and torch.count_nonzero(grid[1:]) == 0 and torch.count_nonzero(grid[:, :, 1:]) == 0


def test_late_fusion_outputs_logits_and_refuses_a_head(tiny_bert: Path) -> None:
    fusion = LateFusion(LateConfig(), DIMS, 7)
    assert fusion.output_dim == 7 and fusion(make_outputs(), make_present()).shape == (5, 7)
    base = {"model": {"encoders": {"text": {"type": "hf_text", "path": str(tiny_bert)}}, "fusion": {"type": "late"}}}
    model = build_model(load_spec(base), 3)
    assert model.head.config.type == "none"
    with pytest.raises(SpecError, match="outputs class logits itself; remove the `head:` section"):
        build_model(load_spec({"model": {**base["model"], "head": {"type": "mlp"}}}), 3)
    with pytest.raises(PluginError, match="cannot sit inside another fusion"):
        build_model(load_spec({"model": {**base["model"], "fusion": {"type": "missing_modality",
                                                                     "inner": {"type": "late"}}}}), 3)


def test_film_conditions_on_text_by_default_and_checks_the_name() -> None:
    fusion = FilmFusion(FilmConfig(dim=8), DIMS)
    assert fusion.condition == "text" and fusion.targets == ["extra", "image"]
    assert fusion.output_dim == 8 * 3 + 3
    with pytest.raises(SpecError, match="condition_on is 'audio'"):
        FilmFusion(FilmConfig(condition_on="audio"), DIMS)
