"""Checkpoints on disk: what a resume restores exactly, and what it does with damaged or foreign files."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mmfusion.errors import MMFusionError
from mmfusion.run.checkpoint import load_checkpoint, save_checkpoint
from mmfusion.run.checkpoint_files import FILES
from mmfusion.run.errors import RunDirError
from mmfusion.run.layout import POINTER
from mmfusion.spec import load_spec
from mmfusion.training.trainer import Trainer, TrainingInterrupted

from ..conftest import xor_spec
from .interrupt import StopAfterEpochs


class Net(nn.Module):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3)
        self.fc = nn.Linear(width, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).mean(dim=(2, 3)))


def _parts(width: int = 4) -> tuple[nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    torch.manual_seed(0)
    model = Net(width).to(memory_format=torch.channels_last)  # as image encoders train by default
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, fused=True)
    return model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1 + step))


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler) -> None:  # type: ignore[no-untyped-def]
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1)).to(memory_format=torch.channels_last)
    model(x).sum().backward()
    optimizer.step()
    optimizer.zero_grad()
    scheduler.step()


def _save(folder: Path, epoch: int, model, optimizer, scheduler) -> Path:  # type: ignore[no-untyped-def]
    return save_checkpoint(folder, model=model, optimizer=optimizer, scheduler=scheduler, scaler=None,
                           trainer_state={"epoch": epoch, "history": [{"epoch": epoch, "val_loss": 1 / 3}],
                                          "best": 1 / 3, "best_epoch": epoch, "stale": 0})


def _load(folder: Path, width: int = 4, **kwargs) -> dict:  # type: ignore[no-untyped-def]
    model, optimizer, scheduler = _parts(width)
    return load_checkpoint(folder, model=model, optimizer=optimizer, scheduler=scheduler, scaler=None, **kwargs)


@pytest.fixture
def two_checkpoints(tmp_path: Path) -> Path:
    """checkpoints/ with a complete epoch-0001 left behind (as when its removal failed) and epoch-0002 in force."""
    folder = tmp_path / "checkpoints"
    parts = _parts()
    _step(*parts)
    first = _save(folder, 1, *parts)
    shutil.copytree(first, tmp_path / "kept")
    _step(*parts)
    _save(folder, 2, *parts)
    shutil.copytree(tmp_path / "kept", first)
    return folder


def test_the_optimiser_state_gets_back_its_parameters_memory_layout(tmp_path: Path) -> None:
    model, optimizer, scheduler = _parts()
    _step(model, optimizer, scheduler)
    _save(tmp_path, 1, model, optimizer, scheduler)
    restored, restored_optimizer, restored_scheduler = _parts()
    load_checkpoint(tmp_path, model=restored, optimizer=restored_optimizer, scheduler=restored_scheduler,
                    scaler=None)
    for param in restored.parameters():
        for key in ("exp_avg", "exp_avg_sq"):
            state = restored_optimizer.state[param][key]
            assert state.stride() == param.stride(), key
    assert restored.conv.weight.is_contiguous(memory_format=torch.channels_last)
    for _ in range(2):  # the next steps are the same, bit for bit
        _step(model, optimizer, scheduler)
        _step(restored, restored_optimizer, restored_scheduler)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), restored.parameters(), strict=True))
    assert restored_scheduler.get_last_lr() == scheduler.get_last_lr()


def test_the_host_random_number_generators_are_restored(tmp_path: Path) -> None:
    _save(tmp_path, 1, *_parts())
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    random.seed(123), np.random.seed(123), torch.manual_seed(123)
    _load(tmp_path)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


@pytest.mark.parametrize("pointer", ['{"folder": "epoch-0009"}', "{not json", '{"folder": "../../etc"}', "[]"])
def test_an_unusable_pointer_falls_back_to_the_newest_complete_checkpoint(two_checkpoints: Path,
                                                                           pointer: str) -> None:
    (two_checkpoints / POINTER).write_text(pointer)
    with pytest.warns(UserWarning, match=f"{two_checkpoints / POINTER} cannot be used: .*epoch-0002"):
        assert _load(two_checkpoints)["epoch"] == 2


def test_an_unusable_pointer_without_a_complete_checkpoint_is_a_clear_error(two_checkpoints: Path) -> None:
    (two_checkpoints / POINTER).write_text("garbage")
    for folder in two_checkpoints.glob("epoch-*"):
        (folder / "state.json").unlink()  # as if the process died while writing each
    with pytest.raises(RunDirError, match=f"{two_checkpoints / POINTER} cannot be used: it is not readable "
                                          "JSON .* no complete epoch-\\* checkpoint folder .* without --resume"):
        _load(two_checkpoints)


@pytest.mark.parametrize("name", FILES)
def test_a_damaged_file_falls_back_to_an_older_checkpoint_or_is_named(two_checkpoints: Path, name: str) -> None:
    damaged = two_checkpoints / "epoch-0002" / name
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # truncated
    messages: list[str] = []
    assert _load(two_checkpoints, warn=messages.append)["epoch"] == 1
    assert len(messages) == 1 and str(damaged) in messages[0] and "epoch-0001" in messages[0]
    shutil.rmtree(two_checkpoints / "epoch-0001")
    with pytest.raises(RunDirError) as caught:
        _load(two_checkpoints)
    message = str(caught.value)
    assert f"checkpoint file {damaged} is truncated or corrupt" in message
    assert "no older complete checkpoint" in message and "without --resume" in message


def test_a_malformed_state_file_is_named(tmp_path: Path) -> None:
    _save(tmp_path, 1, *_parts())
    state = tmp_path / "epoch-0001" / "state.json"
    state.write_text(json.dumps({"trainer": {"epoch": 1}}))  # valid JSON, not a checkpoint's state
    with pytest.raises(RunDirError, match=f"{state} is incomplete"):
        _load(tmp_path)


def test_a_checkpoint_of_another_model_names_the_first_mismatching_parameter(tmp_path: Path) -> None:
    _save(tmp_path, 1, *_parts(width=4))
    with pytest.raises(RunDirError, match="parameter 'conv.weight' has shape \\(8, 3, 3, 3\\) in the model but "
                                          "\\(4, 3, 3, 3\\) in .*model.safetensors; the spec differs"):
        _load(tmp_path, width=8)


FROZEN_TEXT = """\
model:
  encoders:
    text: {{type: hf_text, path: {bert}, pooling: mean, freeze: true}}
  fusion: {{type: concat, projection_dim: 8}}
  head: {{type: linear}}
"""


def test_frozen_encoders_saved_by_reference_are_left_out_and_checked_on_resume(tiny_bert: Path,
                                                                             tmp_path: Path) -> None:
    from mmfusion.model.builder import build_model
    from mmfusion.run.frozen import find_references

    from ..conftest import write_spec

    spec = load_spec(write_spec(tmp_path, FROZEN_TEXT.format(bert=tiny_bert)))

    def parts() -> tuple:  # type: ignore[type-arg]
        torch.manual_seed(0)
        model = build_model(spec, 2)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.01)
        return model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)

    model, optimizer, scheduler = parts()
    digest = find_references(model)["text"].digest
    folder = save_checkpoint(tmp_path / "checkpoints", model=model, optimizer=optimizer, scheduler=scheduler,
                             scaler=None, trainer_state={"epoch": 1, "history": [], "best": None, "best_epoch": 1,
                                                         "stale": 0}, by_reference={"text": digest})
    from safetensors.torch import load_file

    saved = load_file(str(folder / "model.safetensors"))
    assert saved and not any(k.startswith("encoders.text.") for k in saved)
    restored, restored_optimizer, restored_scheduler = parts()
    load_checkpoint(tmp_path / "checkpoints", model=restored, optimizer=restored_optimizer,
                    scheduler=restored_scheduler, scaler=None)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), restored.state_dict().values(),
                                                 strict=True))
    other, other_optimizer, other_scheduler = parts()
    with torch.no_grad():  # as if the weights file changed between the interruption and the resume
        other.encoders["text"].model.embeddings.word_embeddings.weight[0, 0] += 1
    with pytest.raises(RunDirError, match=rf"refers to the frozen weights of encoder 'text' \(hf_text\) with "
                                          rf"digest {digest}, but the ones loaded now from hf_text path: "
                                          rf"{tiny_bert}, pretrained: true have digest [0-9a-f]{{32}}"):
        load_checkpoint(tmp_path / "checkpoints", model=other, optimizer=other_optimizer, scheduler=other_scheduler,
                        scaler=None)


# ----- through the trainer ------------------------------------------------------------------------------------
@pytest.fixture
def interrupted(xor_data: Path, tiny_bert: Path, feature_cache: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A run stopped after its first of two epochs, and its spec."""
    spec = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=2)
    with pytest.raises(TrainingInterrupted):
        Trainer(load_spec(spec), tmp_path / "run", progress=False, callbacks=[StopAfterEpochs(1)]).fit()
    return tmp_path / "run", spec


@pytest.mark.slow
def test_resuming_with_an_edited_spec_names_the_first_mismatching_parameter(interrupted) -> None:  # type: ignore
    run, spec_file = interrupted
    spec_file.write_text(spec_file.read_text().replace("hidden_dims: [32]", "hidden_dims: [16]"))
    with pytest.raises(MMFusionError, match="cannot resume: parameter 'head.layers.0.weight' has shape \\(16, \\d+\\) "
                                            "in the model but \\(32, \\d+\\) in .*model.safetensors"):
        Trainer(load_spec(spec_file), run, progress=False, resume=True).fit()


@pytest.mark.slow
def test_resuming_from_a_truncated_checkpoint_names_the_file(interrupted) -> None:  # type: ignore
    run, spec_file = interrupted
    weights = run / "checkpoints" / "epoch-0001" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(MMFusionError, match=f"checkpoint file {weights} is truncated or corrupt"):
        Trainer(load_spec(spec_file), run, progress=False, resume=True).fit()
    assert not (run / ".lock").exists()


def test_an_optimiser_state_of_other_trainable_parameters_is_a_clear_error(tmp_path: Path) -> None:
    _save(tmp_path, 1, *_parts())
    model, _, scheduler = _parts()
    frozen_conv = torch.optim.AdamW(model.fc.parameters(), lr=0.01)  # as after `freeze: true` on an encoder
    with pytest.raises(RunDirError, match="optimiser state in .*optimizer.safetensors does not fit the model's "
                                          "trainable parameters .* was `freeze`"):
        load_checkpoint(tmp_path, model=model, optimizer=frozen_conv, scheduler=scheduler, scaler=None)
