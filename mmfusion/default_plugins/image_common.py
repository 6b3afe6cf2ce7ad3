"""What image encoders share: preprocessing options, the transform, example images.

Public as :mod:`mmfusion.image` so that plugin image encoders get the same spec options as the built-ins.
torchvision is imported only when a transform is built.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from pydantic import Field
from torch import Tensor

from ..errors import PluginError
from ..interfaces.config import EncoderConfig
from ..interfaces.encoder import Encoder

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: what a model's data config falls back to for keys it does not give
DEFAULTS: dict[str, Any] = {"image_size": 224, "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "crop_pct": 0.875,
                            "interpolation": "bilinear", "resize": "shorter_side"}
#: how the picture reaches ``image_size / crop_pct`` before the centre crop: keeping its aspect ratio (timm,
#: torchvision) or stretched to a square, as many Hugging Face image processors do (ViT, SigLIP)
RESIZE_MODES = ("shorter_side", "square")


class ImageEncoderConfig(EncoderConfig):
    """Preprocessing overrides; unset values follow the encoder's own data config."""

    image_size: int | None = Field(None, ge=16, description="Side of the square input (default: the model's).")
    mean: tuple[float, float, float] | None = Field(None, description="Normalisation mean (default: the model's).")
    std: tuple[float, float, float] | None = Field(None, description="Normalisation std (default: the model's).")
    crop_pct: float | None = Field(
        None, gt=0, le=1, description="Resize to image_size / crop_pct, then center-crop (1.0: no crop)."
    )
    interpolation: Literal["bilinear", "bicubic", "nearest"] | None = None
    augment: bool = Field(
        False, description="Random resized crop and horizontal flip for training samples (disables feature caching)."
    )


@dataclass(frozen=True)
class ImageTransforms:
    """The settings in effect (spec over model defaults) and the eval and train transforms built from them.

    Both transforms take an RGB PIL image and return normalised ``float32 [3, image_size, image_size]``.
    """

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_pct: float
    interpolation: str
    eval: Any
    train: Any
    resize: str = "shorter_side"


def image_transforms(config: ImageEncoderConfig, defaults: Mapping[str, Any] | None = None) -> ImageTransforms:
    """Build the transforms for ``config``, whose unset options take ``defaults`` (the model's data config:
    ``image_size``, ``mean``, ``std``, ``crop_pct``, ``interpolation``, and ``resize``, one of
    :data:`RESIZE_MODES`), then ImageNet's usual values."""
    from torchvision.transforms import v2 as T

    base = {**DEFAULTS, **(defaults or {})}
    size = int(config.image_size or base["image_size"])
    mean = tuple(config.mean or base["mean"])
    std = tuple(config.std or base["std"])
    crop_pct = float(config.crop_pct or base["crop_pct"])
    mode = getattr(T.InterpolationMode, str(config.interpolation or base["interpolation"]).upper())
    resize = str(base["resize"])
    if resize not in RESIZE_MODES:
        raise PluginError(f"an image encoder asked for resize {resize!r}; the modes are {', '.join(RESIZE_MODES)}")
    tail = [T.ToImage(), T.ToDtype(torch.float32, scale=True), T.Normalize(mean, std)]
    side = int(round(size / crop_pct))
    eval_transform = T.Compose(
        [T.Resize(side if resize == "shorter_side" else (side, side), interpolation=mode, antialias=True),
         T.CenterCrop(size), *tail]
    )
    train_transform = T.Compose(
        [T.RandomResizedCrop(size, scale=(0.6, 1.0), interpolation=mode, antialias=True), T.RandomHorizontalFlip(),
         *tail]
    ) if config.augment else eval_transform
    return ImageTransforms(size, mean, std, crop_pct, mode.value, eval_transform, train_transform,  # type: ignore
                           resize)


class ImageEncoder(Encoder):
    """Base of image encoders: RGB PIL image → ``{"pixels": [3, H, W]}`` with the model's statistics.

    A subclass (config subclassing :class:`ImageEncoderConfig`) calls :meth:`setup_transform` in ``__init__``
    and reads ``inputs["pixels"]`` ``[B, 3, H, W]`` in ``forward``.
    """

    modality = "image"
    prefers_channels_last = True
    config: ImageEncoderConfig

    def setup_transform(self, defaults: Mapping[str, Any] | None = None) -> None:
        """Build eval and train transforms from the model's data config, overridden by the spec.

        Args:
            defaults: the model's own ``image_size``, ``mean``, ``std``, ``crop_pct``, ``interpolation`` and
                ``resize`` (``shorter_side`` or ``square``); missing keys take ImageNet's usual values (224,
                ImageNet statistics, 0.875, bilinear, shorter side).
        """
        transforms = image_transforms(self.config, defaults)
        self.image_size, self.mean, self.std = transforms.image_size, transforms.mean, transforms.std
        self.crop_pct, self.interpolation = transforms.crop_pct, transforms.interpolation
        self.resize = transforms.resize
        self.eval_transform, self.train_transform = transforms.eval, transforms.train

    def preprocess(self, value: Any, *, train: bool = False) -> dict[str, Tensor]:
        transform = self.train_transform if train else self.eval_transform
        from ..data.image_modes import to_rgb

        return {"pixels": transform(to_rgb(value) if hasattr(value, "convert") else value)}

    def augments(self) -> bool:
        return self.config.augment

    def example_input(self, rng: random.Random) -> Any:
        from PIL import Image, ImageDraw

        image = Image.new("RGB", (64, 64), tuple(rng.randint(0, 255) for _ in range(3)))
        x, y = rng.randint(0, 40), rng.randint(0, 40)
        ImageDraw.Draw(image).rectangle([x, y, x + 20, y + 20], fill=tuple(rng.randint(0, 255) for _ in range(3)))
        return image

    def preprocessing(self) -> dict[str, Any]:
        """The preprocessing in effect, for summaries and exported models."""
        resize = getattr(self, "resize", "shorter_side")
        first = ("resize the shorter side to round(image_size / crop_pct)" if resize == "shorter_side" else
                 "resize to a square of round(image_size / crop_pct) on each side (aspect ratio not kept)")
        return {"image_size": self.image_size, "mean": list(self.mean), "std": list(self.std),
                "crop_pct": self.crop_pct, "interpolation": self.interpolation, "resize": resize,
                "steps": f"RGB; {first} with this interpolation (antialiased); center-crop image_size; scale to "
                         "[0, 1]; (x - mean) / std; NCHW"}


def grid_to_tokens(features: Tensor) -> Tensor:
    """``[B, C, H, W]`` → ``[B, H*W, C]``."""
    return features.flatten(2).transpose(1, 2)
