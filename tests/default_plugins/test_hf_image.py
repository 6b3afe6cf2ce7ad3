"""hf_image encoder: tiny random ViT, ConvNeXt, CLIP and SigLIP checkpoints saved with their image processors.

The conformance kit checks it with the other registered encoders (tests/testing/test_conformance.py); downloads
from a Hub id are in tests/test_downloads.py.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from mmfusion.default_plugins.hf_image import HFImageConfig, HFImageEncoder, processor_settings
from mmfusion.errors import SpecError
from mmfusion.testing.tiny_models import write_tiny_vision_model

from ..conftest import write_spec


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vision")
    return {kind: write_tiny_vision_model(root / kind, kind) for kind in ("vit", "convnext", "clip", "siglip")}


def _pixels(encoder: HFImageEncoder, n: int = 2) -> dict[str, torch.Tensor]:
    rng = random.Random(0)
    return encoder.collate([encoder.preprocess(encoder.example_input(rng)) for _ in range(n)])


def test_vit_pools_its_cls_token_and_gives_every_token_with_a_mask(models: dict[str, Path]) -> None:
    from transformers import ViTModel

    encoder = HFImageEncoder(HFImageConfig(path=str(models["vit"]))).eval()
    assert encoder.output_dim == 32 and encoder.provides_tokens and encoder.weights_path == models["vit"]
    assert (encoder.image_size, encoder.mean, encoder.resize) == (32, (0.5, 0.5, 0.5), "square")  # its processor's
    assert not hasattr(encoder.model, "pooler") or encoder.model.pooler is None  # a pooler ViT checkpoints lack
    batch = _pixels(encoder)
    with torch.no_grad():
        out = encoder(batch)
        reference = ViTModel.from_pretrained(models["vit"], add_pooling_layer=False).eval()(batch["pixels"])
    assert out.tokens.shape == (2, 1 + 16, 32) and out.token_mask.dtype == torch.bool and out.token_mask.all()
    assert torch.allclose(out.tokens, reference.last_hidden_state, atol=1e-6)
    assert torch.allclose(out.pooled, reference.last_hidden_state[:, 0], atol=1e-6)
    mean = HFImageEncoder(HFImageConfig(path=str(models["vit"]), pooling="mean", tokens=False)).eval()
    with torch.no_grad():
        pooled_mean = mean(batch)
    assert pooled_mean.tokens is None and torch.allclose(pooled_mean.pooled, out.tokens.mean(1), atol=1e-6)


def test_convnext_grid_cells_are_tokens_and_its_pooler_is_pooled(models: dict[str, Path]) -> None:
    from transformers import ConvNextModel

    encoder = HFImageEncoder(HFImageConfig(path=str(models["convnext"]))).eval()
    assert (encoder.crop_pct, encoder.resize, encoder.interpolation) == (0.875, "shorter_side", "bicubic")
    batch = _pixels(encoder, 3)
    with torch.no_grad():
        out = encoder(batch)
        reference = ConvNextModel.from_pretrained(models["convnext"]).eval()(batch["pixels"])
    assert encoder.output_dim == 32 and out.tokens.shape == (3, 16, 32)  # the last stage's 4 × 4 grid
    assert torch.allclose(out.pooled, reference.pooler_output, atol=1e-6)


@pytest.mark.parametrize("projection", [False, True])
def test_clip_vision_tower_gives_clips_image_embedding(models: dict[str, Path], projection: bool) -> None:
    from transformers import CLIPModel

    encoder = HFImageEncoder(HFImageConfig(path=str(models["clip"]), projection=projection)).eval()
    assert encoder.output_dim == (24 if projection else 32)
    batch = _pixels(encoder)
    clip = CLIPModel.from_pretrained(models["clip"]).eval()
    with torch.no_grad():
        out = encoder(batch)
        vision = clip.vision_model(pixel_values=batch["pixels"])
        expected = clip.visual_projection(vision.pooler_output) if projection else vision.pooler_output
    assert torch.allclose(out.pooled, expected, atol=1e-5)
    assert out.tokens.shape == (2, 17, encoder.output_dim)
    if projection:  # the CLS token, normed and projected like every token, is the image embedding
        assert torch.allclose(out.tokens[:, 0], out.pooled, atol=1e-5)


def test_siglip_vision_tower_pools_with_its_attention_head(models: dict[str, Path]) -> None:
    from transformers import SiglipVisionModel

    encoder = HFImageEncoder(HFImageConfig(path=str(models["siglip"]))).eval()
    batch = _pixels(encoder)
    with torch.no_grad():
        out = encoder(batch)
        expected = SiglipVisionModel.from_pretrained(models["siglip"]).eval()(pixel_values=batch["pixels"])
    assert torch.allclose(out.pooled, expected.pooler_output, atol=1e-5) and out.tokens.shape == (2, 16, 32)
    projected = HFImageEncoder(HFImageConfig(path=str(models["siglip"]), projection=True)).eval()
    with torch.no_grad():  # SigLIP's pooled output is its image embedding already
        assert torch.allclose(projected(batch).pooled, out.pooled, atol=1e-6)


def test_another_image_size_interpolates_position_embeddings(models: dict[str, Path]) -> None:
    encoder = HFImageEncoder(HFImageConfig(path=str(models["vit"]), image_size=48)).eval()
    with torch.no_grad():
        out = encoder(_pixels(encoder))
    assert out.tokens.shape == (2, 1 + 36, 32)


def test_random_init_with_config_overrides(models: dict[str, Path]) -> None:
    encoder = HFImageEncoder(HFImageConfig(path=str(models["vit"]), pretrained=False,
                                           config_overrides={"hidden_size": 48, "num_hidden_layers": 1}))
    assert encoder.output_dim == 48 and encoder.weights_path is None and not encoder.pretrained
    with pytest.raises(SpecError, match="'hiden_size' is not a setting of the ViTConfig — did you mean 'hidden_size'"):
        HFImageEncoder(HFImageConfig(path=str(models["vit"]), config_overrides={"hiden_size": 48}))


def test_options_that_do_not_apply_are_errors(models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="projection: true needs a CLIP or SigLIP checkpoint.*is a vit model"):
        HFImageEncoder(HFImageConfig(path=str(models["vit"]), projection=True))
    from transformers import BlipConfig

    BlipConfig().save_pretrained(tmp_path / "blip")  # a text-image model whose towers mmfusion does not know
    with pytest.raises(SpecError, match="'blip' is a text-image model whose vision tower.*supported dual encoders: "
                                        "clip, siglip"):
        HFImageEncoder(HFImageConfig(path=str(tmp_path / "blip")))


def test_processor_settings_follow_each_family() -> None:
    clip = processor_settings({"size": {"shortest_edge": 224}, "crop_size": {"height": 224, "width": 224},
                               "do_center_crop": True, "resample": 3, "image_mean": [0.48, 0.46, 0.41],
                               "image_std": [0.27, 0.26, 0.28]})
    assert clip == {"image_size": 224, "mean": (0.48, 0.46, 0.41), "std": (0.27, 0.26, 0.28), "crop_pct": 1.0,
                    "resize": "shorter_side", "interpolation": "bicubic"}
    deit = processor_settings({"size": {"height": 256, "width": 256}, "crop_size": {"height": 224, "width": 224},
                               "do_center_crop": True, "resample": 3})
    assert (deit["image_size"], deit["crop_pct"], deit["resize"]) == (224, 0.875, "square")
    convnext = processor_settings({"size": {"shortest_edge": 224}, "crop_pct": 0.875, "resample": 3})
    assert (convnext["image_size"], convnext["crop_pct"], convnext["resize"]) == (224, 0.875, "shorter_side")
    large = processor_settings({"size": {"shortest_edge": 384}, "crop_pct": 0.875, "resample": 3})
    assert (large["image_size"], large["crop_pct"], large["resize"]) == (384, 1.0, "square")  # stretched, no crop
    halves = processor_settings({"size": {"height": 32, "width": 32}, "rescale_factor": 1 / 127.5,
                                 "image_mean": [1.0, 1.0, 1.0], "image_std": [1.0, 1.0, 1.0]})
    assert halves["mean"] == pytest.approx((0.5,) * 3) and halves["std"] == pytest.approx((0.5,) * 3)  # x/127.5 - 1
    plain = processor_settings({"size": {"height": 32, "width": 32}, "do_normalize": False, "resample": 2})
    assert (plain["mean"], plain["std"], plain["interpolation"]) == ((0.0,) * 3, (1.0,) * 3, "bilinear")


def test_feature_key_names_the_processor_settings(models: dict[str, Path]) -> None:
    encoder = HFImageEncoder(HFImageConfig(path=str(models["convnext"])))
    key = encoder.feature_key()
    assert '"crop_pct": 0.875' in key and '"resize": "shorter_side"' in key and encoder.weights_digest() in key


@pytest.mark.slow
@pytest.mark.parametrize("family", ["vit", "clip"])
def test_exports_to_onnx_matching_pytorch(family: str, models: dict[str, Path], tiny_bert: Path,
                                          tmp_path: Path) -> None:
    """The model alone is exported (pixels in); with CLIP, both towers of one checkpoint and their projections."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import json

    from mmfusion.export.exporters import export_run
    from mmfusion.model.builder import build_model
    from mmfusion.run.load import LoadedRun, RunPaths
    from mmfusion.spec import load_spec

    clip = family == "clip"
    image = {"type": "hf_image", "path": str(models[family]), "projection": clip}
    text = {"type": "hf_text", "path": str(models["clip"]), "projection": True} if clip else \
        {"type": "hf_text", "path": str(tiny_bert)}
    spec = load_spec({"model": {"encoders": {"image": image, "text": text},
                                "fusion": {"type": "missing_modality",
                                           "inner": {"type": "attention", "dim": 32, "num_heads": 2}}}})
    torch.manual_seed(0)
    run = LoadedRun(RunPaths(tmp_path), spec, ["a", "b", "c"], build_model(spec, 3).eval(), {}, {}, "multiclass")
    result = export_run(run, "onnx", tmp_path / "model.onnx")
    assert max(result.max_abs_diff.values()) < 1e-4
    preprocessing = json.loads(result.metadata_path.read_text())["preprocessing"]["image"]
    assert preprocessing["encoder"] == "hf_image" and preprocessing["image_size"] == 32
    assert preprocessing["resize"] == ("shorter_side" if clip else "square")  # as the model's processor resizes


@pytest.mark.slow
def test_trains_above_chance_on_xor(xor_data: Path, tiny_bert: Path, feature_cache: Path, models: dict[str, Path],
                                    tmp_path: Path) -> None:
    """A frozen random tiny ViT still tells the image colours apart: with the text, XOR is learnt."""
    from mmfusion.api import fit

    spec = write_spec(tmp_path, f"""\
model:
  encoders:
    image: {{type: hf_image, path: {models["vit"]}, pooling: mean, freeze: true}}
    text: {{type: hf_text, path: {tiny_bert}, freeze: true, pooling: mean}}
  fusion: {{type: concat, projection_dim: 32}}
  head: {{type: mlp, hidden_dims: [32], dropout: 0.0}}
data:
  source: {{type: csv, train: {xor_data}}}
  split: {{validation: 0.2, test: 0.2}}
train: {{epochs: 12, batch_size: 16, lr: 0.01, warmup: 0.0, cache_dir: {feature_cache}}}
""")
    result = fit(spec, out=tmp_path / "run")
    assert result.test_metrics["accuracy"] >= 0.85  # chance is 0.5: each input alone says nothing


def test_the_clip_example_is_one_spec_for_both_towers(models: dict[str, Path], tmp_path: Path) -> None:
    """examples/clip.yaml validates as written (its Hub checkpoint needs network to build); with the tiny CLIP
    folder in its place it builds and runs both towers, each in the 24-wide shared space."""
    pytest.importorskip("easy_vqa")
    import json

    import yaml
    from click.testing import CliRunner

    from mmfusion.cli import cli
    from mmfusion.spec import load_spec

    from ..conftest import EXAMPLES

    example = EXAMPLES / "clip.yaml"
    encoders = load_spec(example).model.encoders
    assert {m: (e.type, e.path, e.projection, e.freeze) for m, e in encoders.items()} == {
        "image": ("hf_image", "openai/clip-vit-base-patch32", True, True),
        "text": ("hf_text", "openai/clip-vit-base-patch32", True, True)}
    text = yaml.safe_load(example.read_text(encoding="utf-8"))
    for encoder in text["model"]["encoders"].values():
        encoder["path"] = str(models["clip"])
    spec = write_spec(tmp_path, yaml.safe_dump(text), "clip.yaml")
    result = CliRunner().invoke(cli, ["build", str(spec), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    components = {c["component"]: c for c in report["components"]}
    assert components["encoder image"]["output_dim"] == components["encoder text"]["output_dim"] == 24
    assert components["encoder image"]["trainable"] == components["encoder text"]["trainable"] == 0
    assert report["forward"]["logits_shape"] == [4, 13]
