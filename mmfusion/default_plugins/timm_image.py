"""Image encoder: any timm backbone; tokens are CNN grid cells or ViT patch (and prefix) tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from torch import Tensor, nn

from ..errors import SpecError, WeightsError, did_you_mean
from ..hookspecs import hookimpl
from ..interfaces.encoder import EncoderOutput
from ..weights import load_weights_into
from .image_common import ImageEncoder, ImageEncoderConfig, grid_to_tokens


class TimmConfig(ImageEncoderConfig):
    type: Literal["timm"] = "timm"
    model_name: str = Field(description="Any name from `timm.list_models()`, e.g. tf_efficientnet_lite0.")
    pretrained: bool = Field(
        False, description="timm's pretrained weights, only if already in the local Hugging Face cache."
    )
    tokens: bool = Field(True, description="Return the feature grid / patch tokens (for attention fusion).")
    model_kwargs: dict[str, Any] = Field(default_factory=dict, description="Extra timm.create_model arguments.")


def _cached_pretrained_file(timm: Any, model_name: str) -> str:
    """Path of the model's pretrained weights in the local HF cache, or a WeightsError saying how to add them."""
    cfg = timm.models.get_pretrained_cfg(model_name)
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if hub_id:
        from huggingface_hub import try_to_load_from_cache

        for filename in ("model.safetensors", "open_clip_pytorch_model.bin", "pytorch_model.bin"):
            found = try_to_load_from_cache(hub_id, filename)
            if isinstance(found, str):
                return found
    where = f"the Hugging Face repo {hub_id}" if hub_id else "timm's model hub"
    raise WeightsError(
        f"pretrained: true asks for timm '{model_name}' weights from {where}, which are not in the local cache; "
        f"mmfusion never downloads at run time. On a machine with network access run "
        f"`hf download {hub_id or model_name}` and copy the Hugging Face cache here, or set `weights:` to a "
        f"local file (any .safetensors/.pth state dict for this architecture)."
    )


class TimmEncoder(ImageEncoder):
    """A timm model without its classifier: pooled pre-logits features plus tokens."""

    name = "timm"
    Config = TimmConfig
    loads_own_weights = True  # `weights:` goes into the backbone inside __init__
    config: TimmConfig

    def __init__(self, config: TimmConfig) -> None:
        super().__init__(config)
        import timm

        if not timm.is_model(config.model_name):
            raise SpecError(
                f"unknown timm model '{config.model_name}'"
                f"{did_you_mean(config.model_name, timm.list_models())} (see `timm.list_models()`)"
            )
        kwargs = dict(config.model_kwargs)
        self.weights_path: Path | None = None
        if config.pretrained and config.weights is None:
            kwargs["pretrained_cfg_overlay"] = {"file": _cached_pretrained_file(timm, config.model_name)}
            self.weights_path = Path(kwargs["pretrained_cfg_overlay"]["file"])
        net = timm.create_model(
            config.model_name, pretrained=config.pretrained and config.weights is None, num_classes=0, **kwargs
        )
        if config.weights is not None:
            self.weights_path = load_weights_into(net, config.weights, what=f"timm {config.model_name} weights")
        self.net = net
        self.output_dim = int(net.num_features)
        self.provides_tokens = config.tokens
        # pre-logits vectors match the token width for most models; otherwise pool the tokens ourselves
        self._own_pooling = int(getattr(net, "head_hidden_size", net.num_features)) != self.output_dim
        data = timm.data.resolve_data_config({}, model=net)
        self.setup_transform(
            {"image_size": data["input_size"][-1], "mean": data["mean"], "std": data["std"],
             "crop_pct": data.get("crop_pct", 0.875), "interpolation": data.get("interpolation", "bicubic")}
        )

    def weights_target(self) -> nn.Module:
        return self.net

    def forward(self, inputs: dict[str, Tensor]) -> EncoderOutput:
        features = self.net.forward_features(inputs["pixels"])
        tokens = grid_to_tokens(features) if features.ndim == 4 else features
        pooled = tokens.mean(dim=1) if self._own_pooling else self.net.forward_head(features, pre_logits=True)
        return EncoderOutput(pooled, tokens if self.provides_tokens else None)

    @classmethod
    def conformance_configs(cls, workdir: Path) -> list[TimmConfig]:
        return [TimmConfig(model_name="test_efficientnet", image_size=64),
                TimmConfig(model_name="test_vit", image_size=64, model_kwargs={"img_size": 64})]


@hookimpl
def mmfusion_encoders() -> list[type]:
    return [TimmEncoder]
