"""The base of image encoders: the spec options, transforms and example images every image encoder shares.

Subclass :class:`ImageEncoderConfig` for your config and :class:`ImageEncoder` for your encoder, call
``self.setup_transform({...your model's defaults...})`` in ``__init__``, and read ``inputs["pixels"]``
(``float32 [B, 3, H, W]``) in ``forward``: a spec can then set ``image_size``, ``mean``, ``std``, ``crop_pct``,
``interpolation`` and ``augment`` on your encoder as on ``timm``. :func:`image_transforms` builds the same
transforms for an encoder that keeps its own base class. torchvision's transforms are imported only when a
transform is built, never by importing this module (the one lazy torchvision import in the core).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import torch
from pydantic import Field, field_validator
from torch import Tensor

from ..errors import PluginError
from .augment import RATIO, ImageAugment, crop_box, mapping_or_flag
from .config import EncoderConfig
from .encoder import Encoder
from .image_modes import to_rgb

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
    augment: bool | ImageAugment = Field(
        False, description="Random resized crop and horizontal flip for training samples: true, or a mapping with "
        "`views` (frozen encoders: K cached views, view 0 clean), `scale` and `flip`. Without `views` the encoder "
        "runs live on every batch (no feature caching)."
    )

    @field_validator("augment", mode="before")
    @classmethod
    def _augment_flag_or_mapping(cls, value: Any) -> Any:
        return mapping_or_flag(value, ImageAugment, (True, False))


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
    #: ``view(image, rng)``: a random resized crop and flip drawn from ``rng`` (``augment`` as a mapping, else None)
    view: Any = None


def image_transforms(config: ImageEncoderConfig, defaults: Mapping[str, Any] | None = None) -> ImageTransforms:
    """Build the transforms for ``config``, whose unset options take ``defaults`` (the model's data config:
    ``image_size``, ``mean``, ``std``, ``crop_pct``, ``interpolation``, and ``resize``, one of
    :data:`RESIZE_MODES`), then :data:`DEFAULTS` (ImageNet's usual values)."""
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
    augment = config.augment if isinstance(config.augment, ImageAugment) else ImageAugment()
    train_transform = T.Compose(
        [T.RandomResizedCrop(size, scale=augment.scale, ratio=RATIO, interpolation=mode, antialias=True),
         *([T.RandomHorizontalFlip()] if augment.flip else []), *tail]
    ) if config.augment else eval_transform
    view = partial(_view, size, mode, augment, T.Compose(tail)) if isinstance(config.augment, ImageAugment) else None
    return ImageTransforms(size, mean, std, crop_pct, mode.value, eval_transform, train_transform,  # type: ignore
                           resize, view)


def _view(size: int, mode: Any, augment: ImageAugment, tail: Any, image: Any, rng: random.Random) -> Tensor:
    """The train transform's crop and flip, drawn from ``rng`` instead of torch's generator (bound with
    ``functools.partial``, not a closure, so that encoders still pickle into data-loader workers)."""
    from torchvision.transforms.v2 import functional as F

    top, left, height, width = crop_box(rng, *reversed(F.get_size(image)), augment.scale)
    image = F.resized_crop(image, top, left, height, width, [size, size], interpolation=mode, antialias=True)
    if augment.flip and rng.random() < 0.5:
        image = F.horizontal_flip(image)
    return tail(image)


class ImageEncoder(Encoder):
    """Base of image encoders: RGB PIL image → ``{"pixels": [3, H, W]}`` with the model's statistics (see the
    module docstring for what a subclass does)."""

    modality = "image"
    prefers_channels_last = True
    config: ImageEncoderConfig

    def setup_transform(self, defaults: Mapping[str, Any] | None = None) -> None:
        """Build eval and train transforms from the model's data config (``defaults``, see
        :func:`image_transforms`), overridden by the spec."""
        t = image_transforms(self.config, defaults)
        self.image_size, self.mean, self.std, self.crop_pct = t.image_size, t.mean, t.std, t.crop_pct
        self.interpolation, self.resize = t.interpolation, t.resize
        self.eval_transform, self.train_transform, self.view_transform = t.eval, t.train, t.view

    def preprocess(self, value: Any, *, train: bool = False) -> dict[str, Tensor]:
        return {"pixels": (self.train_transform if train else self.eval_transform)(_rgb(value))}

    def augments(self) -> bool:
        return bool(self.config.augment)

    def augment_views(self) -> int | None:
        return self.config.augment.views if isinstance(self.config.augment, ImageAugment) else None

    def augmentation_key(self) -> dict[str, Any]:
        augment = self.config.augment if isinstance(self.config.augment, ImageAugment) else ImageAugment()
        return {"kind": "resized_crop_flip/1", "scale": list(augment.scale), "ratio": list(RATIO),
                "flip": augment.flip}

    def preprocess_views(self, values: Sequence[Any], seeds: Sequence[int]) -> list[dict[str, Tensor]]:
        return [{"pixels": self.view_transform(_rgb(value), random.Random(seed))} for value, seed in zip(values, seeds)]

    def example_input(self, rng: random.Random) -> Any:
        from PIL import Image, ImageDraw

        image = Image.new("RGB", (64, 64), tuple(rng.randint(0, 255) for _ in range(3)))
        x, y = rng.randint(0, 40), rng.randint(0, 40)
        ImageDraw.Draw(image).rectangle([x, y, x + 20, y + 20], fill=tuple(rng.randint(0, 255) for _ in range(3)))
        return image

    def preprocessing(self) -> dict[str, Any]:
        """The preprocessing in effect, for summaries and exported models."""
        first = ("resize the shorter side to round(image_size / crop_pct)" if self.resize == "shorter_side" else
                 "resize to a square of round(image_size / crop_pct) on each side (aspect ratio not kept)")
        return {"image_size": self.image_size, "mean": list(self.mean), "std": list(self.std),
                "crop_pct": self.crop_pct, "interpolation": self.interpolation, "resize": self.resize,
                "steps": f"RGB; {first} with this interpolation (antialiased); center-crop image_size; scale to "
                         "[0, 1]; (x - mean) / std; NCHW"}


def _rgb(value: Any) -> Any:
    """A PIL image as 8-bit RGB (:func:`to_rgb`); anything else (a tensor) as it is."""
    return to_rgb(value) if hasattr(value, "convert") else value


def grid_to_tokens(features: Tensor) -> Tensor:
    """``[B, C, H, W]`` → ``[B, H*W, C]``."""
    return features.flatten(2).transpose(1, 2)
