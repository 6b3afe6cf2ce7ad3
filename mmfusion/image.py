"""Building blocks for image-encoder plugins: the spec options and transforms the built-in image encoders use.

Subclass :class:`ImageEncoderConfig` for your config and :class:`ImageEncoder` for your encoder, call
``self.setup_transform({...your model's defaults...})`` in ``__init__``, and read ``inputs["pixels"]``
(``float32 [B, 3, H, W]``) in ``forward``: a spec can then set ``image_size``, ``mean``, ``std``, ``crop_pct``,
``interpolation`` and ``augment`` on your encoder as on ``timm``. :func:`image_transforms` builds the same
transforms for an encoder that keeps its own base class. torchvision is imported only when a transform is
built, never by importing this module.
"""

from __future__ import annotations

from .default_plugins.image_common import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageEncoder,
    ImageEncoderConfig,
    ImageTransforms,
    grid_to_tokens,
    image_transforms,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageEncoder",
    "ImageEncoderConfig",
    "ImageTransforms",
    "grid_to_tokens",
    "image_transforms",
]
