"""``--resume`` is bit-identical to an uninterrupted run, also with encoders trained end to end or cached views.

The default configuration is what is checked: ``channels_last: true`` for CNN encoders and fused AdamW; one thread,
so that both runs sum in the same order however busy the machine is (``threads: auto`` keeps the count of the
checkpoint's epochs on resume: tested below).
Every model weight and every optimiser-state tensor of the last checkpoint must be equal, bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mmfusion.spec import load_spec
from mmfusion.training.trainer import Trainer, TrainingInterrupted

from ..conftest import write_spec
from .interrupt import StopAfterEpochs

EPOCHS = 3

ENCODERS = {
    "timm-cnn": ("image", "{type: timm, model_name: test_efficientnet, image_size: 32, freeze: false}"),
    "timm-resnet": ("image", "{type: timm, model_name: test_resnet, image_size: 32, freeze: false}"),
    "timm-vit": ("image", "{type: timm, model_name: test_vit, image_size: 32, freeze: false,"
                          " model_kwargs: {img_size: 32}}"),
    "torchvision-resnet18": ("image", "{type: torchvision_resnet, arch: resnet18, image_size: 32, freeze: false,"
                                      " augment: true}"),
    "hf-text": ("text", "{type: hf_text, path: BERT, freeze: false, pooling: mean}"),
    # frozen and cached with augmented views: each epoch's pick of a view per sample must be the same on resume
    "hf-text-views": ("text", "{type: hf_text, path: BERT, freeze: true, pooling: mean,"
                              " augment: {views: 3, token_dropout: 0.3}}"),
}

SPEC = """\
model:
  encoders:
    {modality}: {encoder}
  fusion: {{type: concat, projection_dim: 16}}
  head: {{type: mlp, hidden_dims: [16], dropout: 0.1}}
data:
  source: {{type: csv, train: {csv}}}
  columns: {{{modality}: {modality}}}
  split: {{validation: 0.25}}
train:
  epochs: {epochs}
  batch_size: 8
  lr: 0.01
  precision: fp32
  threads: {threads}
  cache_dir: {cache}
"""


@pytest.fixture(scope="module")
def small_xor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mmfusion.testing.data import make_xor_dataset

    return make_xor_dataset(tmp_path_factory.mktemp("xor-small"), n=40, image_size=32)


def _tensors(run: Path, name: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run / "checkpoints" / f"epoch-{EPOCHS:04d}" / name))


@pytest.mark.parametrize("encoder", list(ENCODERS))
@pytest.mark.slow
def test_resume_is_bitwise_identical_to_an_uninterrupted_run(encoder: str, small_xor: Path, tiny_bert: Path,
                                                             tmp_path: Path) -> None:
    modality, config = ENCODERS[encoder]
    text = SPEC.format(modality=modality, encoder=config.replace("BERT", str(tiny_bert)), csv=small_xor, epochs=EPOCHS,
                       cache=tmp_path / "cache", threads=1)
    spec = load_spec(write_spec(tmp_path, text))
    assert spec.train.channels_last  # the default configuration is the one that must resume exactly
    Trainer(spec, tmp_path / "straight", progress=False).fit()
    with pytest.raises(TrainingInterrupted):
        Trainer(spec, tmp_path / "resumed", progress=False, callbacks=[StopAfterEpochs(1)]).fit()
    Trainer(spec, tmp_path / "resumed", progress=False, resume=True).fit()
    for name in ("model.safetensors", "optimizer.safetensors"):
        straight, resumed = _tensors(tmp_path / "straight", name), _tensors(tmp_path / "resumed", name)
        assert straight.keys() == resumed.keys()
        differ = {k: float((straight[k].double() - resumed[k].double()).abs().max())
                  for k in straight if not torch.equal(straight[k], resumed[k])}
        worst = max(differ, key=differ.get, default=None)
        assert not differ, f"{name}: {len(differ)}/{len(straight)} tensors differ, most {worst} by {differ[worst]:.3g}"
    straight_state, resumed_state = _state(tmp_path / "straight"), _state(tmp_path / "resumed")
    assert straight_state == resumed_state  # history, optimiser groups, schedule, scaler


def _state(run: Path) -> dict:
    """state.json of the last checkpoint without the wall-clock timings and Python's and NumPy's RNG states.

    Those two RNGs are compared elsewhere (test_checkpoint_files.py): here a library drawing once from Python's
    RNG when first used in the process makes the first run of a test session differ from the later ones.
    """
    state = json.loads((run / "checkpoints" / f"epoch-{EPOCHS:04d}" / "state.json").read_text())
    state.pop("host_rng")
    for row in state["trainer"]["history"]:
        row.pop("seconds"), row.pop("train_samples_per_s")
    return state


@pytest.mark.slow
def test_auto_threads_resume_with_the_count_the_checkpoint_trained_with(small_xor: Path, tiny_bert: Path,
                                                                       tmp_path: Path, monkeypatch) -> None:
    import mmfusion.runtime.threads as threads

    modality, config = ENCODERS["hf-text"]
    text = SPEC.format(modality=modality, encoder=config.replace("BERT", str(tiny_bert)), csv=small_xor, epochs=2,
                       cache=tmp_path / "cache", threads="auto")
    spec = load_spec(write_spec(tmp_path, text))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # two cores, whatever this machine has
    set_to: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", set_to.append)
    monkeypatch.setattr(threads, "busy_elsewhere", lambda *a, **k: 1)  # one core busy: auto chooses 1 thread
    with pytest.raises(TrainingInterrupted):
        Trainer(spec, tmp_path / "run", progress=False, callbacks=[StopAfterEpochs(1)]).fit()
    saved = json.loads((tmp_path / "run" / "checkpoints" / "epoch-0001" / "state.json").read_text())
    assert saved["trainer"]["threads"] == 1
    monkeypatch.setattr(threads, "busy_elsewhere", lambda *a, **k: 0)  # idle now: auto alone would choose 2
    set_to.clear()
    result = Trainer(spec, tmp_path / "run", progress=False, resume=True).fit()
    assert set_to[:2] == [2, 1]  # chosen from the idle cores, then the checkpoint's count
    assert result.summary["threads"] == 1
