"""Image encoder: any Hugging Face vision model (ViT, DeiT, DINOv2, ConvNeXt, Swin, ...) or CLIP/SigLIP's vision tower.

From a local folder, a ``package:`` folder or a Hub id (downloaded into the Hugging Face cache unless offline).
The model's image processor gives the resize, crop and normalisation settings; the pixels are prepared with
the same transforms as the other image encoders, so the model alone is what gets exported.
"""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from torch import Tensor, nn

from ..errors import SpecError
from ..hookspecs import hookimpl
from ..interfaces.encoder import EncoderOutput
from ..interfaces.image_encoder import IMAGENET_MEAN, IMAGENET_STD, ImageEncoder, ImageEncoderConfig, grid_to_tokens
from .hf_common import HFModelConfig, HFSource, hf_tower_config, hub_errors, hub_offline, load_hf_model
from .hf_towers import submodule

#: models whose pooler is an extra dense layer that fine-tuned checkpoints do not train (their classifier reads
#: the [CLS] token): pooled by the [CLS] token, built without that pooler
_CLS_POOLED = {"vit", "deit", "vit_msn"}
_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic"}  # PIL's numbering, as processors store it


class HFImageConfig(ImageEncoderConfig, HFModelConfig):
    type: Literal["hf_image"] = "hf_image"
    tokens: bool = Field(True, description="Also return the patch tokens or feature-grid cells (for attention fusion).")
    pooling: Literal["auto", "pooler", "cls", "mean"] = Field(
        "auto", description="Pooled vector: auto (the [CLS] token for ViT/DeiT, else the model's pooled output, "
        "else the mean of the tokens), pooler (the model's pooled output), cls (first token), mean (of the tokens).")


class HFImageEncoder(ImageEncoder):
    """A Hugging Face vision model: pooled ``[B, D]`` and its patch tokens or grid cells ``[B, T, D]``."""

    name = "hf_image"
    Config = HFImageConfig
    config: HFImageConfig

    def __init__(self, config: HFImageConfig) -> None:
        super().__init__(config)
        source, vision_config, towers = hf_tower_config(config, kind="hf_image", tower="vision")
        self.model_type = str(vision_config.model_type)
        auto = "cls" if self.model_type in _CLS_POOLED else "model"
        self._pooling = auto if config.pooling == "auto" else config.pooling
        plain_pooling = self._pooling in ("cls", "mean") and towers is None
        self.model = load_hf_model(config, source, vision_config, towers, kind="hf_image", tower="vision",
                                   options={"add_pooling_layer": False} if plain_pooling else {})
        self.weights_path: Path | None = source.folder if config.pretrained else None
        # CLIP: tokens and pooled vector through the final layer norm and the projection (SigLIP's pooled output
        # is its image embedding already: it has no separate projection)
        self._project = submodule(self.model, "visual_projection") if config.projection else None
        self._post_norm = submodule(self.model, "post_layernorm") if self._project is not None else None
        self.output_dim = int(self._project.out_features if self._project is not None else _width(vision_config))
        self.provides_tokens = config.tokens
        self.setup_transform(self._processor_defaults(source, vision_config))
        self._forward_options: dict[str, Any] = {}
        trained_size = getattr(vision_config, "image_size", None)
        if (isinstance(trained_size, int) and self.image_size != trained_size
                and "interpolate_pos_encoding" in inspect.signature(self.model.forward).parameters):
            self._forward_options["interpolate_pos_encoding"] = True  # position embeddings fit another size

    def _processor_defaults(self, source: HFSource, vision_config: Any) -> dict[str, Any]:
        """The image processor's resize, crop, interpolation and normalisation, as image-encoder defaults."""
        from transformers import AutoImageProcessor

        try:
            with hub_errors(source.repo_id, what="hf_image path"), hub_offline(source):
                processor = AutoImageProcessor.from_pretrained(source.name, local_files_only=source.local_files_only)
        except (OSError, ValueError) as exc:
            size = getattr(vision_config, "image_size", None) or 224
            warnings.warn(f"hf_image: no image processor in {source.name} ({type(exc).__name__}); using {size} "
                          "pixels, ImageNet mean and std and bilinear resizing. Set image_size, mean, std and "
                          "interpolation to match how the model was trained.", stacklevel=2)
            return {"image_size": size, "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "crop_pct": 1.0,
                    "interpolation": "bilinear", "resize": "square"}
        return processor_settings(processor.to_dict())

    def weights_target(self) -> nn.Module:
        return self.model

    def forward(self, inputs: dict[str, Tensor]) -> EncoderOutput:
        out = self.model(pixel_values=inputs["pixels"], **self._forward_options)
        hidden = out.last_hidden_state
        tokens = grid_to_tokens(hidden) if hidden.ndim == 4 else hidden
        if self._project is not None:  # CLIP: the pooled CLS state is post-layer-normed, then projected
            tokens = self._project(self._post_norm(tokens) if self._post_norm is not None else tokens)
        if self._pooling == "mean":
            pooled = tokens.mean(dim=1)
        elif self._pooling == "cls":
            pooled = tokens[:, 0]
        elif self._project is not None:
            pooled = out.image_embeds
        else:
            pooled = getattr(out, "pooler_output", None)
            if pooled is None:
                if self.config.pooling == "pooler":
                    raise SpecError(f"hf_image: pooling: pooler, but the {self.model_type} model has no pooled "
                                    "output; use pooling: cls or mean")
                pooled = tokens.mean(dim=1)
            pooled = pooled.flatten(1)  # CNN poolers keep [B, C, 1, 1]
        mask = tokens.new_ones(tokens.shape[:2], dtype=bool) if self.provides_tokens else None
        return EncoderOutput(pooled, tokens if self.provides_tokens else None, mask)

    def feature_key(self) -> str:
        # the processor's settings come from the checkpoint, not the config: they decide the features too
        parts = json.loads(super().feature_key())
        parts["image_preprocessing"] = self.preprocessing()
        return json.dumps(parts, sort_keys=True, default=str)

    @classmethod
    def conformance_configs(cls, workdir: Path) -> list[HFImageConfig]:
        from ..testing.tiny_models import write_tiny_vision_model

        vit = write_tiny_vision_model(workdir / "tiny-vit", "vit")
        convnext = write_tiny_vision_model(workdir / "tiny-convnext", "convnext")
        clip = write_tiny_vision_model(workdir / "tiny-clip", "clip")
        return [HFImageConfig(path=str(vit)), HFImageConfig(path=str(convnext), pooling="mean"),
                HFImageConfig(path=str(clip), projection=True)]


def _width(vision_config: Any) -> int:
    """The feature width from the config (never from a dummy forward): ``hidden_size``, else the last stage's."""
    width = getattr(vision_config, "hidden_size", None)
    if not isinstance(width, int):
        width = (getattr(vision_config, "hidden_sizes", None) or [None])[-1]
    if not isinstance(width, int):
        raise SpecError(f"hf_image: cannot tell the feature width of a {vision_config.model_type} model from its "
                        "config (no hidden_size or hidden_sizes); it is not a supported vision backbone")
    return width


def processor_settings(processor: dict[str, Any]) -> dict[str, Any]:
    """Image-encoder defaults from an image processor's settings (``to_dict()``).

    Processors either resize the shorter side (CLIP, DINOv2) or stretch to a square (ViT, SigLIP), then may
    centre-crop (``crop_size``); ConvNeXt's crops ``crop_pct`` below 384 pixels and stretches from 384 up.
    A rescale factor other than 1/255 is folded into mean and std.
    """
    size = processor.get("size") or {}
    square = "height" in size
    side = int(size.get("height") or size.get("shortest_edge") or 224)
    crop = processor.get("crop_size") or {}
    if processor.get("do_center_crop") and crop.get("height"):
        image_size, crop_pct = int(crop["height"]), int(crop["height"]) / side
    elif processor.get("crop_pct") and not square and side < 384:  # ConvNeXt
        image_size, crop_pct = side, float(processor["crop_pct"])
    else:
        image_size, crop_pct, square = side, 1.0, square or processor.get("crop_pct") is not None
    mean, std = processor.get("image_mean") or IMAGENET_MEAN, processor.get("image_std") or IMAGENET_STD
    if not processor.get("do_normalize", True):
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    scale = float(processor.get("rescale_factor", 1 / 255)) if processor.get("do_rescale", True) else 1.0
    if abs(scale * 255 - 1) > 1e-6:  # ours scales to [0, 1]: x·s = (x/255)·(255·s)
        mean, std = [m / (255 * scale) for m in mean], [s / (255 * scale) for s in std]
    return {"image_size": image_size, "mean": tuple(float(m) for m in mean), "std": tuple(float(s) for s in std),
            "crop_pct": min(1.0, crop_pct), "resize": "square" if square else "shorter_side",
            "interpolation": _RESAMPLE.get(int(processor.get("resample", 2) or 2), "bicubic")}


@hookimpl
def mmfusion_encoders() -> list[type]:
    return [HFImageEncoder]
