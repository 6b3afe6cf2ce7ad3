"""`mmfusion.interfaces.image_encoder`: a plugin image encoder gets the built-ins' spec options, not a copy."""

from __future__ import annotations

import random
import subprocess
import sys
from typing import Literal

import torch
from torch import nn

import mmfusion
from mmfusion import EncoderOutput, build_model, hookimpl, load_spec
from mmfusion.interfaces.image_encoder import ImageEncoder, ImageEncoderConfig, image_transforms
from mmfusion.registry import load_registry
from mmfusion.testing import run_checks


class TinyCnnConfig(ImageEncoderConfig):
    type: Literal["tiny_cnn_test"] = "tiny_cnn_test"
    width: int = 8


class TinyCnnEncoder(ImageEncoder):
    """One strided convolution; everything about pixels comes from ImageEncoder."""

    name = "tiny_cnn_test"
    Config = TinyCnnConfig

    def __init__(self, config: TinyCnnConfig) -> None:
        super().__init__(config)
        self.net = nn.Conv2d(3, config.width, 3, stride=2)
        self.output_dim = config.width
        self.setup_transform({"image_size": 40})  # the model's default; mean/std default to ImageNet's

    def forward(self, inputs):  # type: ignore[no-untyped-def]
        return EncoderOutput(self.net(inputs["pixels"]).mean(dim=(2, 3)))


def test_a_plugin_image_encoder_gets_the_spec_options_and_passes_the_kit() -> None:
    registry = load_registry(autoload=False, extra=[type("P", (), {"mmfusion_encoders": hookimpl(
        lambda self: [TinyCnnEncoder])})()])
    spec = load_spec({"model": {"encoders": {"image": {"type": "tiny_cnn_test", "image_size": 24, "crop_pct": 1.0,
                                                       "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],
                                                       "interpolation": "bicubic", "augment": True}},
                                "fusion": "concat"}}, registry=registry)
    encoder = build_model(spec, 2, registry=registry).encoders["image"]
    image = encoder.example_input(random.Random(0))
    pixels = encoder.preprocess(image)["pixels"]
    assert pixels.shape == (3, 24, 24) and pixels.dtype == torch.float32
    assert encoder.preprocessing()["interpolation"] == "bicubic" and encoder.mean == (0.5, 0.5, 0.5)
    assert encoder.augments() and encoder.prefers_channels_last and encoder.modality == "image"
    default = TinyCnnEncoder(TinyCnnConfig())
    assert default.preprocess(image)["pixels"].shape == (3, 40, 40)
    assert default.std == (0.229, 0.224, 0.225) and not default.augments()
    assert all(r.passed for r in run_checks(TinyCnnEncoder)), [r for r in run_checks(TinyCnnEncoder) if not r.passed]


def test_image_transforms_for_encoders_with_their_own_base_class() -> None:
    transforms = image_transforms(TinyCnnConfig(image_size=32), {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)})
    from PIL import Image

    pixels = transforms.eval(Image.new("RGB", (50, 70), (255, 0, 0)))
    assert pixels.shape == (3, 32, 32) and float(pixels[0].min()) == 1.0 and float(pixels[1].max()) == 0.0
    assert transforms.train is transforms.eval  # no augmentation asked for


def test_public_names_and_no_torchvision_on_import() -> None:
    assert {"ImageEncoder", "ImageEncoderConfig"} <= set(mmfusion.__all__)
    assert mmfusion.ImageEncoder is ImageEncoder
    out = subprocess.run([sys.executable, "-c", "import sys, mmfusion.interfaces.image_encoder; "
                          "print('torchvision' in sys.modules)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
