"""Frozen pretrained encoders saved by reference: what a run leaves out, what loads back, what errors name.

The runs here are written without training (a built model's weights, as the checkpoint callback writes them):
referencing depends only on how the encoders were built, never on what training did to the rest.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from mmfusion.errors import MMFusionError
from mmfusion.model.builder import build_model
from mmfusion.run.errors import RunDirError
from mmfusion.run.frozen import find_references, left_out, write_weights
from mmfusion.run.layout import FROZEN_WEIGHTS
from mmfusion.run.load import load_run
from mmfusion.spec import load_spec
from mmfusion.spec.loader import spec_to_yaml

from .conftest import write_spec

SPEC = """\
model:
  encoders:
    image: {{type: timm, model_name: test_efficientnet, image_size: 32, freeze: true}}
    text: {{type: hf_text, path: {bert}, pooling: mean, freeze: {freeze}{text}}}
  fusion: {{type: concat, projection_dim: 8}}
  head: {{type: linear}}
data: {{task: multiclass}}
"""


def _run(folder: Path, bert: Path, *, freeze: bool = True, text: str = "") -> tuple[Path, torch.nn.Module, dict]:
    """A run directory holding a freshly built model's weights, written as training writes them."""
    folder.mkdir(exist_ok=True)
    spec = load_spec(write_spec(folder, SPEC.format(bert=bert, freeze=str(freeze).lower(), text=text)))
    model = build_model(spec, 2)
    references = find_references(model, seed=0)
    run = folder / "run"
    run.mkdir()
    (run / "spec.yaml").write_text(spec_to_yaml(spec), encoding="utf-8")
    (run / "labels.json").write_text('["a", "b"]', encoding="utf-8")
    write_weights(run / "weights.safetensors", model, references)
    return run, model, references


def _keys(run: Path) -> list[str]:
    with safe_open(str(run / "weights.safetensors"), "pt") as handle:
        return list(handle.keys())


def _point_text_to(run: Path, bert: Path) -> None:
    import yaml

    spec = yaml.safe_load((run / "spec.yaml").read_text())
    spec["model"]["encoders"]["text"]["path"] = str(bert)
    (run / "spec.yaml").write_text(yaml.safe_dump(spec))


def test_a_frozen_pretrained_encoder_is_saved_by_reference_and_loads_back(tiny_bert: Path, tmp_path: Path) -> None:
    run, model, references = _run(tmp_path, tiny_bert)
    assert list(references) == ["text"]  # the image encoder is frozen but randomly initialised: nothing rebuilds it
    keys = _keys(run)
    assert not any(k.startswith("encoders.text.") for k in keys) and any(k.startswith("encoders.image.") for k in keys)
    assert left_out(run / "weights.safetensors") == ["text"]
    record = json.loads((run / FROZEN_WEIGHTS).read_text())["encoders"]["text"]
    assert record["digest"] == model.encoders["text"].weights_digest() and record["resolved"] == str(tiny_bert)
    assert record["source"] == f"hf_text path: {tiny_bert}, pretrained: true"
    assert record["tensors"] == len(model.encoders["text"].state_dict())
    loaded = load_run(run).model.state_dict()
    assert loaded.keys() == model.state_dict().keys()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())


def test_trained_and_partly_random_encoders_are_saved_in_full(tiny_bert: Path, tmp_path: Path) -> None:
    trained, _, references = _run(tmp_path / "trained", tiny_bert, freeze=False)
    assert references == {} and not (trained / FROZEN_WEIGHTS).exists()
    assert left_out(trained / "weights.safetensors") == []
    # pretrained, but a third layer the checkpoint lacks is randomly initialised: a rebuild would differ
    deeper, model, references = _run(tmp_path / "deeper", tiny_bert, text=", config_overrides: {num_hidden_layers: 3}")
    assert references == {} and any(k.startswith("encoders.text.model.encoder.layer.2.") for k in _keys(deeper))
    assert torch.equal(load_run(deeper).model.state_dict()["encoders.text.model.encoder.layer.2.output.dense.bias"],
                       model.state_dict()["encoders.text.model.encoder.layer.2.output.dense.bias"])


def test_finding_references_leaves_the_random_streams_alone(tiny_bert: Path, tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, SPEC.format(bert=tiny_bert, freeze="true", text="")))
    model = build_model(spec, 2)
    def draws() -> tuple:
        return torch.rand(2), random.random(), np.random.rand()

    torch.manual_seed(3), random.seed(3), np.random.seed(3)
    assert list(find_references(model, seed=0)) == ["text"]
    after = draws()
    torch.manual_seed(3), random.seed(3), np.random.seed(3)
    untouched = draws()
    assert torch.equal(after[0], untouched[0]) and after[1:] == untouched[1:]

def test_weights_that_changed_or_do_not_resolve_are_named(tiny_bert: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    run, model, references = _run(tmp_path, tiny_bert)
    digest = references["text"].digest
    other = Path(shutil.copytree(tiny_bert, tmp_path / "other-bert"))
    state = load_file(str(other / "model.safetensors"))
    state["embeddings.word_embeddings.weight"][0, 0] += 1
    save_file(state, str(other / "model.safetensors"))
    _point_text_to(run, other)
    with pytest.raises(RunDirError, match=rf"encoder 'text' \(hf_text\) are not in weights\.safetensors; the "
                                          rf"run refers to them \(frozen_weights\.json\): hf_text path: "
                                          rf"{tiny_bert}, pretrained: true, digest {digest}.*spec\.yaml now "
                                          rf"asks for hf_text path: {other}.*have digest [0-9a-f]{{32}}"):
        load_run(run)
    _point_text_to(run, tmp_path / "gone")
    with pytest.raises(RunDirError, match=rf"digest {digest}.*They cannot be loaded here .*gone.*point "
                                          r"model\.encoders\.text in .*spec\.yaml to them"):
        load_run(run)


def test_a_missing_or_damaged_record_is_named(tiny_bert: Path, tmp_path: Path) -> None:
    run, _, _ = _run(tmp_path, tiny_bert)
    (run / FROZEN_WEIGHTS).write_text('{"encoders": {"text": {"digest": 3}}}')
    with pytest.raises(MMFusionError, match=r"frozen_weights\.json: the entry of encoder 'text' is malformed"):
        load_run(run)
    (run / FROZEN_WEIGHTS).unlink()
    with pytest.raises(MMFusionError, match=r"frozen_weights\.json is missing, and weights\.safetensors leaves out"):
        load_run(run)


def test_a_run_from_before_references_loads_as_it_did(tiny_bert: Path, tmp_path: Path) -> None:
    """Every tensor in weights.safetensors and no record: the frozen encoder comes from the weights file."""
    from mmfusion.io import write_safetensors_atomic

    run, model, _ = _run(tmp_path, tiny_bert)
    (run / FROZEN_WEIGHTS).unlink()
    write_safetensors_atomic(run / "weights.safetensors", model.state_dict())
    _point_text_to(run, tmp_path / "gone-but-unused")  # its weights are not read; its tokenizer and config are
    shutil.copytree(tiny_bert, tmp_path / "gone-but-unused")
    (tmp_path / "gone-but-unused" / "model.safetensors").unlink()
    loaded = load_run(run).model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())
