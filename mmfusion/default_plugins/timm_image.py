"""Image encoder: any timm backbone; tokens are CNN grid cells or ViT patch (and prefix) tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from torch import Tensor

from ..errors import MMFusionError, SpecError, WeightsError, did_you_mean
from ..hookspecs import hookimpl
from ..interfaces.encoder import EncoderOutput
from ..interfaces.image_encoder import grid_to_tokens
from ..interfaces.peft import PeftEncoderConfig
from ..weights.offline import offline_variable
from ._common import BackboneConfig, BackboneEncoder, offline_weights_problem, torch_hub_path


class TimmConfig(BackboneConfig, PeftEncoderConfig):
    type: Literal["timm"] = "timm"
    model_name: str = Field(description="Any name from `timm.list_models()`, e.g. tf_efficientnet_lite0, or with "
                            "a pretrained tag, e.g. resnet18.a1_in1k.")
    pretrained: bool = Field(
        False, description="timm's pretrained weights, downloaded by timm into the Hugging Face cache on first use "
        "(offline: only from the cache).")
    model_kwargs: dict[str, Any] = Field(default_factory=dict, description="Extra timm.create_model arguments.")


_HUB_FILES = ("model.safetensors", "open_clip_model.safetensors", "open_clip_pytorch_model.bin", "pytorch_model.bin")
_INSTEAD = "set `weights:` to a local file (any .safetensors/.pth state dict for this architecture)"


def _no_weights(model_name: str) -> WeightsError:
    return WeightsError(f"timm has no pretrained weights for '{model_name}'; remove `pretrained: true` or {_INSTEAD}")


def _sources(timm: Any, model_name: str) -> tuple[str | None, str | None, str | None]:
    """Where timm gets the model's pretrained weights: (Hub id with any @revision, its file name, URL)."""
    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None:
        return None, None, None
    return getattr(cfg, "hf_hub_id", None) or None, getattr(cfg, "hf_hub_filename", None), cfg.url or None


def _cached_pretrained_file(timm: Any, model_name: str) -> str | None:
    """The model's pretrained weights file in timm's caches (Hugging Face, then torch hub), without network."""
    hub_id, filename, url = _sources(timm, model_name)
    if hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo, _, revision = hub_id.partition("@")
        for name in (filename,) if filename else _HUB_FILES:
            found = try_to_load_from_cache(repo, name, revision=revision or None)
            if isinstance(found, str):
                return found
    return str(torch_hub_path(url)) if url and torch_hub_path(url).is_file() else None


def _offline_problem(timm: Any, model_name: str, variable: str) -> WeightsError:
    hub_id, _, url = _sources(timm, model_name)
    if hub_id:
        where, fetch = f"the Hugging Face repo {hub_id}", (f"run `hf download {hub_id.partition('@')[0]}` and copy "
                                                           "the Hugging Face cache here")
    elif url:
        where, fetch = url, f"download {url} and put it at {torch_hub_path(url)}"
    else:
        return _no_weights(model_name)
    return offline_weights_problem(f"timm '{model_name}' weights from {where}", "the local cache", variable, fetch,
                                   _INSTEAD)


def _pretrained_problem(exc: Exception, timm: Any, model_name: str) -> WeightsError:
    """One error, naming the model and where its weights come from, for pretrained weights timm failed to load."""
    from .hf_common import hub_problem, is_hub_failure

    hub_id, _, url = _sources(timm, model_name)
    what = f"timm '{model_name}' pretrained weights"
    if hub_id is None and url is None:
        return _no_weights(model_name)
    if hub_id and is_hub_failure(exc):
        return hub_problem(exc, hub_id.partition("@")[0], what=what, instead=_INSTEAD)
    if url and not hub_id and isinstance(exc, OSError):  # urllib's URLError and HTTPError
        return WeightsError(f"{what}: downloading {url} failed ({type(exc).__name__}: {exc}). Check the network; "
                            f"or, to work without it, put the file at {torch_hub_path(url)}, or {_INSTEAD}.")
    return WeightsError(f"{what}: cannot load them ({type(exc).__name__}: {exc}). If model_kwargs change the "
                        f"architecture, the pretrained weights cannot fit it: remove `pretrained: true` or {_INSTEAD}.")


class TimmEncoder(BackboneEncoder):
    """A timm model without its classifier: pooled pre-logits features plus tokens."""

    name = "timm"
    Config = TimmConfig
    config: TimmConfig

    def __init__(self, config: TimmConfig) -> None:
        super().__init__(config)
        import timm

        if not timm.is_model(config.model_name):
            raise SpecError(
                f"unknown timm model '{config.model_name}'"
                f"{did_you_mean(config.model_name, timm.list_models())} (see `timm.list_models()`)")
        kwargs = dict(config.model_kwargs)
        pretrained = config.pretrained and config.weights is None
        variable = offline_variable()
        if pretrained and variable is not None:  # offline: the cached file, handed to timm as a local file
            cached = _cached_pretrained_file(timm, config.model_name)
            if cached is None:
                raise _offline_problem(timm, config.model_name, variable)
            kwargs["pretrained_cfg_overlay"] = {"file": cached}
        try:  # online, timm downloads into its caches itself, as it does for its own users
            net = timm.create_model(config.model_name, pretrained=pretrained, num_classes=0, **kwargs)
        except Exception as exc:
            if not pretrained or isinstance(exc, TypeError | MMFusionError):  # TypeError: a wrong model_kwargs key
                raise
            raise _pretrained_problem(exc, timm, config.model_name) from None
        if pretrained:
            hub_id, _, url = _sources(timm, config.model_name)
            self.weights_path = Path(_cached_pretrained_file(timm, config.model_name) or hub_id or url or "")
        self.output_dim = int(net.num_features)
        # pre-logits vectors match the token width for most models; otherwise pool the tokens ourselves
        self._own_pooling = int(getattr(net, "head_hidden_size", net.num_features)) != self.output_dim
        data = timm.data.resolve_data_config({}, model=net)
        self.use_backbone(net, what=f"timm {config.model_name} weights", defaults={
            "image_size": data["input_size"][-1], "mean": data["mean"], "std": data["std"],
            "crop_pct": data.get("crop_pct", 0.875), "interpolation": data.get("interpolation", "bicubic")})

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
