"""What the built-in image encoders share: preprocessing options, the transform, example images."""

from __future__ import annotations

import random
from typing import Any, Literal

import torch
from pydantic import Field
from torch import Tensor

from ..interfaces.config import EncoderConfig
from ..interfaces.encoder import Encoder


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


class ImageEncoder(Encoder):
    """Base of image encoders: PIL image → ``{"pixels": [3, H, W]}`` with the model's statistics."""

    modality = "image"
    prefers_channels_last = True
    config: ImageEncoderConfig

    def setup_transform(self, defaults: dict[str, Any]) -> None:
        """Build eval and train transforms from the model's data config, overridden by the spec."""
        from torchvision.transforms import v2 as T

        cfg = self.config
        size = cfg.image_size or defaults["image_size"]
        mean = cfg.mean or defaults["mean"]
        std = cfg.std or defaults["std"]
        crop_pct = cfg.crop_pct or defaults.get("crop_pct", 0.875)
        mode = getattr(T.InterpolationMode, (cfg.interpolation or defaults.get("interpolation", "bilinear")).upper())
        self.image_size, self.mean, self.std = int(size), tuple(mean), tuple(std)
        self.crop_pct = float(crop_pct)
        self.interpolation = mode.value
        tail = [T.ToImage(), T.ToDtype(torch.float32, scale=True), T.Normalize(mean, std)]
        self.eval_transform = T.Compose(
            [T.Resize(int(round(size / crop_pct)), interpolation=mode, antialias=True), T.CenterCrop(size), *tail]
        )
        self.train_transform = T.Compose(
            [T.RandomResizedCrop(size, scale=(0.6, 1.0), interpolation=mode, antialias=True),
             T.RandomHorizontalFlip(), *tail]
            if cfg.augment
            else self.eval_transform.transforms
        )

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
        return {"image_size": self.image_size, "mean": list(self.mean), "std": list(self.std),
                "crop_pct": self.crop_pct, "interpolation": self.interpolation,
                "steps": "RGB; resize the shorter side to round(image_size / crop_pct) with this interpolation "
                         "(antialiased); center-crop image_size; scale to [0, 1]; (x - mean) / std; NCHW"}


def grid_to_tokens(features: Tensor) -> Tensor:
    """``[B, C, H, W]`` → ``[B, H*W, C]``."""
    return features.flatten(2).transpose(1, 2)
