"""Dual encoders (CLIP, SigLIP): which transformers class is each tower, so one checkpoint feeds two encoders.

``hf_text`` loads the text tower and ``hf_image`` the vision tower of the same folder or Hub id; each tower
class reads its half of the checkpoint (and its part of the config) and leaves the other half unused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import SpecError


@dataclass(frozen=True)
class Towers:
    """The tower classes of one model family (``clip``, ``siglip``).

    ``text``/``vision`` give the pooled output before any projection; ``*_projected`` add the projection into
    the shared text-image space, None when the pooled output is already in it (SigLIP's heads).
    ``pads_to_max_length``: the text tower was trained on texts padded to its maximum length and pools the last
    position (SigLIP), so batches must be padded that way for a text's output not to depend on its batch.
    """

    family: str
    text: str
    text_projected: str | None
    vision: str
    vision_projected: str | None
    pads_to_max_length: bool = False

    def tower_class(self, tower: str, projection: bool) -> Any:
        import transformers

        return getattr(transformers, (getattr(self, f"{tower}_projected") if projection else None)
                       or getattr(self, tower))


_FAMILIES = (
    Towers("clip", "CLIPTextModel", "CLIPTextModelWithProjection", "CLIPVisionModel", "CLIPVisionModelWithProjection"),
    Towers("siglip", "SiglipTextModel", None, "SiglipVisionModel", None, pads_to_max_length=True),
)
#: model types (the composite one and each tower's own, for checkpoints saved from one tower) → family
_BY_MODEL_TYPE = {t: f for f in _FAMILIES for t in (f.family, f"{f.family}_text_model", f"{f.family}_vision_model")}


def towers_for(model_config: Any, *, what: str, tower: str) -> Towers | None:
    """The family of a CLIP-like config, or None for an ordinary single-tower model.

    Raises:
        SpecError: the config holds a ``text_config`` and a ``vision_config`` of an unknown family (its AutoModel
            would need both inputs).
    """
    towers = _BY_MODEL_TYPE.get(getattr(model_config, "model_type", ""))
    if towers is None and hasattr(model_config, "text_config") and hasattr(model_config, "vision_config"):
        known = ", ".join(f.family for f in _FAMILIES)
        raise SpecError(f"{what}: '{model_config.model_type}' is a text-image model whose {tower} tower mmfusion "
                        f"does not know how to load; supported dual encoders: {known}. Use a checkpoint of the "
                        f"{tower} tower alone (any single-tower transformers model works).")
    return towers


def tower_config(model_config: Any, towers: Towers | None, tower: str) -> Any:
    """The config a tower class is built from: the composite config's ``text_config``/``vision_config`` with the
    composite's ``projection_dim`` (transformers does not copy it into the towers' own configs, whose default
    then would not fit the checkpoint's projection), or ``model_config`` itself for a single tower."""
    sub = getattr(model_config, f"{tower}_config", None)
    if towers is None or sub is None:
        return model_config
    if getattr(model_config, "projection_dim", None) is not None and hasattr(sub, "projection_dim"):
        sub.projection_dim = model_config.projection_dim
    return sub


def submodule(model: Any, name: str) -> Any:
    """The module called ``name`` at any depth (transformers versions nest towers differently: ``head`` or
    ``text_model.head``), or None."""
    return next((m for n, m in model.named_modules() if n == name or n.endswith(f".{name}")), None)
