"""Image augmentation: only for training samples, and it turns feature caching off for that encoder."""

from __future__ import annotations

import random

import torch

from mmfusion.default_plugins.timm_image import TimmConfig, TimmEncoder


def test_augmentation_changes_training_samples_only() -> None:
    encoder = TimmEncoder(TimmConfig(model_name="test_efficientnet", image_size=32, augment=True))
    image = encoder.example_input(random.Random(0))
    assert encoder.augments()
    torch.manual_seed(0)
    evals = [encoder.preprocess(image)["pixels"] for _ in range(2)]
    trains = [encoder.preprocess(image, train=True)["pixels"] for _ in range(4)]
    assert torch.equal(evals[0], evals[1])
    assert any(not torch.equal(trains[0], t) for t in trains[1:])
    assert not TimmEncoder(TimmConfig(model_name="test_efficientnet", image_size=32)).augments()
