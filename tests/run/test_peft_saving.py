"""Encoders adapted with ``peft:`` in the run directory: the base by reference, the adapters in the weights and
checkpoints; loading rebuilds the base from spec.yaml; resume is exact; export merges the adapters.

The first tests write runs without training (a built model's weights, as the checkpoint callback writes them, with
adapters moved off their initial values); the slow ones train tiny runs on data whose answer is known.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors import safe_open

from mmfusion.model.builder import build_model
from mmfusion.run.errors import RunDirError
from mmfusion.run.frozen import find_references, left_out, referenced_names, write_weights
from mmfusion.run.layout import FROZEN_WEIGHTS
from mmfusion.run.load import load_run
from mmfusion.spec import load_spec
from mmfusion.spec.loader import spec_to_yaml

pytest.importorskip("peft")

ADAPTERS = (".lora_A.", ".lora_B.", ".ia3_l.")


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mmfusion.testing.tiny_models import write_tiny_vision_model

    return write_tiny_vision_model(tmp_path_factory.mktemp("models") / "tiny-vit", "vit")


@pytest.fixture(scope="module")
def timm_vit_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights file for timm's test_vit at 32 pixels: a pretrained base that a rebuild reproduces."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = timm.create_model("test_vit", pretrained=False, num_classes=0, img_size=32)
    path = tmp_path_factory.mktemp("timm") / "test_vit.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def _timm(weights: Path | None, peft: str) -> str:
    where = f", weights: {weights}" if weights else ""
    return f"{{type: timm, model_name: test_vit, image_size: 32, model_kwargs: {{img_size: 32}}{where}, peft: {peft}}}"


def _spec(folder: Path, encoders: dict[str, str]):  # type: ignore[no-untyped-def]
    text = "model:\n  encoders:\n" + "".join(f"    {m}: {c}\n" for m, c in encoders.items())
    return load_spec(yaml.safe_load(text + "  fusion: {type: concat, projection_dim: 8}\ndata: {task: multiclass}\n"))


def _written(folder: Path, encoders: dict[str, str]) -> tuple[Path, torch.nn.Module]:
    """A run directory with a freshly built model whose adapters (and trained biases) were moved off their start."""
    spec = _spec(folder, encoders)
    torch.manual_seed(0)
    model = build_model(spec, 2)
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.1)
    run = folder / "run"
    run.mkdir(parents=True)
    (run / "spec.yaml").write_text(spec_to_yaml(spec), encoding="utf-8")
    (run / "labels.json").write_text('["a", "b"]', encoding="utf-8")
    write_weights(run / "weights.safetensors", model, find_references(model, seed=0))
    return run, model


def _keys(path: Path) -> list[str]:
    with safe_open(str(path), "pt") as handle:
        return list(handle.keys())


def test_the_base_goes_by_reference_and_the_adapters_into_the_weights(tiny_bert: Path, tiny_vit: Path,
                                                                      timm_vit_weights: Path, tmp_path: Path) -> None:
    run, model = _written(tmp_path, {
        "text": f"{{type: hf_text, path: {tiny_bert}, peft: {{type: lora, r: 4}}}}",
        "image": f"{{type: hf_image, path: {tiny_vit}, peft: {{type: ia3}}}}",
        "timm": _timm(timm_vit_weights, "{type: bias}")})
    weights = run / "weights.safetensors"
    assert left_out(weights) == ["image", "text", "timm"]
    keys = _keys(weights)
    encoder_keys = [k for k in keys if k.startswith("encoders.")]
    for modality in ("text", "image"):  # of the encoders, only their adapters (and buffers, which these lack)
        assert all(any(a in k for a in ADAPTERS) for k in encoder_keys if k.startswith(f"encoders.{modality}."))
    timm = [k.removeprefix("encoders.timm.") for k in encoder_keys if k.startswith("encoders.timm.")]
    assert timm and all(k.endswith(".bias") for k in timm)
    assert any(k.startswith("fusion.") for k in keys) and any(k.startswith("head.") for k in keys)
    full = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert weights.stat().st_size < full / 3
    record = json.loads((run / FROZEN_WEIGHTS).read_text())["encoders"]
    text = model.encoders["text"]
    assert record["text"]["digest"] == text.weights_digest(referenced_names(text))
    assert record["text"]["tensors"] == len(referenced_names(text)) and record["text"]["source"].startswith("hf_text")
    # loading rebuilds each base from spec.yaml and puts the run's adapters on it: the model, tensor for tensor
    loaded = load_run(run).model
    state = loaded.state_dict()
    assert loaded.encoders["text"].peft_type == "lora" and state.keys() == model.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_a_randomly_initialised_base_is_saved_in_full(tmp_path: Path) -> None:
    run, model = _written(tmp_path, {"image": _timm(None, "{type: lora, r: 2}")})
    assert left_out(run / "weights.safetensors") == [] and not (run / FROZEN_WEIGHTS).exists()
    assert set(_keys(run / "weights.safetensors")) == set(model.state_dict())
    loaded = load_run(run).model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())


def test_a_base_that_changed_since_training_is_named(tiny_bert: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    other = Path(shutil.copytree(tiny_bert, tmp_path / "other-bert"))
    run, _ = _written(tmp_path, {"text": f"{{type: hf_text, path: {other}, peft: {{type: lora}}}}"})
    state = load_file(str(other / "model.safetensors"))
    state["encoder.layer.0.attention.self.query.weight"][0, 0] += 1
    save_file(state, str(other / "model.safetensors"))
    with pytest.raises(RunDirError, match=r"the frozen weights of encoder 'text' \(hf_text\) are not in "
                                          r"weights\.safetensors.*have digest [0-9a-f]{32}: they are not the ones"):
        load_run(run)


# ----- trained runs ----------------------------------------------------------------------------------------------

SPEC = """\
model:
  encoders:
    {modality}: {encoder}
  fusion: {{type: concat, projection_dim: 16}}
  head: {{type: mlp, hidden_dims: [16], dropout: 0.1}}
data:
  source: {{type: csv, train: {csv}}}
  columns: {{{modality}: {modality}}}
  split: {{validation: 0.25, test: 0.25}}
train:
  epochs: {epochs}
  batch_size: 8
  lr: 0.01
  precision: fp32
  threads: 1
  cache_dir: {cache}
"""


@pytest.fixture(scope="module")
def keyword_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mmfusion.testing.data import make_xor_dataset

    return make_xor_dataset(tmp_path_factory.mktemp("keyword"), n=60, task="text")


def _spec_file(tmp_path: Path, modality: str, encoder: str, csv: Path, epochs: int) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(modality=modality, encoder=encoder, csv=csv, epochs=epochs, cache=tmp_path / "cache"),
                    encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_trained_lora_run_keeps_only_adapters_loads_back_and_exports(keyword_data: Path, tiny_bert: Path,
                                                                        tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from mmfusion.api import fit
    from mmfusion.export.exporters import export_run
    from mmfusion.model.featurizer import example_batch

    spec = _spec_file(tmp_path, "text", f"{{type: hf_text, path: {tiny_bert}, pooling: mean, peft: {{type: lora, "
                                        "r: 4}}", keyword_data, epochs=4)
    result = fit(spec, out=tmp_path / "run")
    run = tmp_path / "run"
    model = result.run.model
    text = model.encoders["text"]
    adapters = {f"encoders.text.{n}" for n, p in text.named_parameters() if p.requires_grad}
    for path in (run / "weights.safetensors", run / "checkpoints" / "epoch-0004" / "model.safetensors"):
        encoder_keys = {k for k in _keys(path) if k.startswith("encoders.")}
        assert encoder_keys == adapters, path
    full = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert (run / "weights.safetensors").stat().st_size < full / 4
    # the base trained not at all: it is still the source's, tensor for tensor
    from safetensors.torch import load_file

    source = load_file(str(tiny_bert / "model.safetensors"))
    assert torch.equal(text.model.encoder.layer[0].attention.self.query.base_layer.weight,
                       source["encoder.layer.0.attention.self.query.weight"])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["trainable_parameters"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert next(r for r in summary["components"] if r["component"] == "encoder text")["trainable"] == 2 * 2 * 2 * 4 * 32
    loaded = load_run(run)
    batch = example_batch(loaded.model, 6, seed=3)
    with torch.no_grad():
        assert torch.equal(loaded.model(batch), model.eval()(batch))
    exported = export_run(loaded, "onnx", tmp_path / "model.onnx")
    assert max(exported.max_abs_diff.values()) < 1e-4
    import onnx

    graph = onnx.load(str(exported.path)).graph
    assert not [i.name for i in graph.initializer if "lora" in i.name]


RESUMED = {
    "hf_text-lora": ("text", "{type: hf_text, path: BERT, pooling: mean, peft: {type: lora, r: 4, dropout: 0.1}}"),
    "hf_image-ia3": ("image", "{type: hf_image, path: VIT, peft: {type: ia3}}"),
    "timm-vit-lora": ("image", "TIMM"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(RESUMED))
def test_resume_is_bit_for_bit(case: str, keyword_data: Path, tiny_bert: Path, tiny_vit: Path,
                               timm_vit_weights: Path, tmp_path: Path) -> None:
    from mmfusion.training.trainer import Trainer, TrainingInterrupted

    from ..training.interrupt import StopAfterEpochs

    modality, encoder = RESUMED[case]
    encoder = (encoder.replace("BERT", str(tiny_bert)).replace("VIT", str(tiny_vit))
               .replace("TIMM", _timm(timm_vit_weights, "{type: lora, r: 2}")))
    spec = load_spec(_spec_file(tmp_path, modality, encoder, keyword_data, epochs=3))
    Trainer(spec, tmp_path / "straight", progress=False).fit()
    with pytest.raises(TrainingInterrupted):
        Trainer(spec, tmp_path / "resumed", progress=False, callbacks=[StopAfterEpochs(1)]).fit()
    Trainer(spec, tmp_path / "resumed", progress=False, resume=True).fit()
    for name in ("model.safetensors", "optimizer.safetensors"):
        from safetensors.torch import load_file

        straight, resumed = (load_file(str(tmp_path / r / "checkpoints" / "epoch-0003" / name))
                             for r in ("straight", "resumed"))
        assert straight.keys() == resumed.keys()
        differ = [k for k in straight if not torch.equal(straight[k], resumed[k])]
        assert not differ, f"{name}: {len(differ)}/{len(straight)} tensors differ, e.g. {differ[0]}"
    state = json.loads((tmp_path / "resumed" / "checkpoints" / "epoch-0003" / "state.json").read_text())
    assert list(state["by_reference"]) == [modality]  # the base was left out of the checkpoints, and checked
