"""Work done once stays done: the feature cache is keyed by what the weights are, not where they came from."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from mmfusion.data.feature_cache import build_feature_store
from mmfusion.default_plugins.hf_text import HFTextConfig, HFTextEncoder
from mmfusion.default_plugins.modalities import ImageModality
from mmfusion.default_plugins.timm_image import TimmConfig, TimmEncoder

from ..conftest import write_spec


def _weights_file(folder: Path) -> Path:
    """A test_efficientnet trained elsewhere: its backbone's weights in a file, as `weights:` takes them."""
    torch.manual_seed(7)
    net = TimmEncoder(TimmConfig(model_name="test_efficientnet", image_size=32)).net
    path = folder / "backbone.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, path)
    return path


def test_an_encoder_rebuilt_without_its_weights_file_has_the_same_feature_key(tmp_path: Path, tiny_bert: Path
                                                                              ) -> None:
    """As `load_run` rebuilds a run: architecture only (no `weights:`, `pretrained: false`), then its weights."""
    image = Image.new("RGB", (16, 16), (200, 30, 30))
    image.save(tmp_path / "a.png")
    config = TimmConfig(model_name="test_efficientnet", image_size=32, freeze=True,
                        weights=str(_weights_file(tmp_path)))
    trained = TimmEncoder(config).eval()
    reloaded = TimmEncoder(config.model_copy(update={"weights": None, "pretrained": False})).eval()
    assert trained.feature_key() != reloaded.feature_key()  # other (random) weights so far
    reloaded.load_state_dict(trained.state_dict())
    assert trained.feature_key() == reloaded.feature_key()
    build = {"cache_dir": tmp_path / "cache", "device": torch.device("cpu"), "autocast": contextlib.nullcontext}
    _, _, computed = build_feature_store(trained, ImageModality(), [str(tmp_path / "a.png")], **build)
    assert computed == 1
    _, _, computed = build_feature_store(reloaded, ImageModality(), [str(tmp_path / "a.png")], **build)
    assert computed == 0

    text = HFTextEncoder(HFTextConfig(path=str(tiny_bert), freeze=True)).eval()
    rebuilt = HFTextEncoder(HFTextConfig(path=str(tiny_bert), freeze=True, pretrained=False)).eval()
    rebuilt.load_state_dict(text.state_dict())
    assert text.feature_key() == rebuilt.feature_key()
    pooling = HFTextEncoder(HFTextConfig(path=str(tiny_bert), freeze=True, pooling="mean")).eval()
    assert pooling.feature_key() != text.feature_key()  # a setting that changes the function still counts


def test_the_weights_digest_is_remembered_until_the_weights_change(tiny_bert: Path) -> None:
    encoder = HFTextEncoder(HFTextConfig(path=str(tiny_bert))).eval()
    first = encoder.weights_digest()
    started = time.perf_counter()
    assert encoder.weights_digest() == first
    remembered = time.perf_counter() - started
    other = {k: v + 1 if v.is_floating_point() else v for k, v in encoder.state_dict().items()}
    encoder.load_state_dict(other)
    changed = encoder.weights_digest()
    assert changed != first
    with torch.no_grad():
        next(encoder.parameters()).add_(1)  # in place: the version counter moves
    assert encoder.weights_digest() not in (first, changed)
    assert remembered < 0.05


SPEC = """\
model:
  encoders:
    image: {{type: timm, model_name: test_efficientnet, image_size: 32, freeze: true, weights: {weights}}}
    text: {{type: hf_text, path: {bert}, freeze: true, pooling: mean}}
  fusion: {{type: concat, projection_dim: 16}}
  head: {{type: mlp, hidden_dims: [16]}}
data:
  source: {{type: csv, train: {csv}}}
  split: {{validation: 0.2, test: 0.2}}
train: {{epochs: 1, batch_size: 32, cache_dir: {cache}}}
"""


@pytest.mark.slow
def test_evaluating_a_trained_run_encodes_nothing_again(tmp_path: Path, xor_data: Path, tiny_bert: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Training caches every split's features; `evaluate` on the reloaded run (encoders built without their
    weights files, then given the run's weights) finds them all: no encoder runs."""
    from mmfusion import evaluate
    from mmfusion.api import fit

    calls = {"image": 0, "text": 0}
    for modality, cls in (("image", TimmEncoder), ("text", HFTextEncoder)):
        def counted(self, inputs, _forward=cls.forward, _modality=modality):  # type: ignore[no-untyped-def]
            calls[_modality] += 1
            return _forward(self, inputs)

        monkeypatch.setattr(cls, "forward", counted)
    spec = write_spec(tmp_path, SPEC.format(weights=_weights_file(tmp_path), bert=tiny_bert, csv=xor_data,
                                            cache=tmp_path / "cache"))
    result = fit(spec, out=tmp_path / "run")
    assert calls["image"] > 0 and calls["text"] > 0  # extraction, once
    calls.update(image=0, text=0)
    report = evaluate(result.run_dir, out=tmp_path / "eval")
    assert calls == {"image": 0, "text": 0}
    assert report.accuracy == pytest.approx(result.test_metrics["accuracy"])
