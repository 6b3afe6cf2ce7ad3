"""Augmentation settings of the built-in encoders, and the seeded draws their augmented views are made of.

``augment: true`` (images) augments training samples afresh each epoch, which runs the encoder live; the
mapping form adds ``views: K``, with which a frozen encoder's features are cached for K views of each
training value (view 0 clean, the others augmented) and each epoch picks one per sample
(:mod:`mmfusion.data.feature_views`). A view is drawn from a ``random.Random`` seeded by the value and the
view index, never from a global generator, so it is the same in every thread, process and run.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

_VIEWS = ("Frozen encoders: cache this many views of each training value (view 0 clean, the others augmented) "
          "and give each sample one of them per epoch; 1 keeps only the clean view. Unset: augment afresh each "
          "epoch, which runs the encoder on every batch.")
#: the aspect ratios a random resized crop draws from, as torchvision's ``RandomResizedCrop``
RATIO = (3 / 4, 4 / 3)


class ImageAugment(BaseModel):
    """``augment:`` of an image encoder as a mapping: random resized crop and horizontal flip."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    views: int | None = Field(None, ge=1, description=_VIEWS)
    scale: tuple[float, float] = Field((0.6, 1.0), description="Range of the crop's share of the picture's area.")
    flip: bool = Field(True, description="Flip half the samples horizontally.")

    @model_validator(mode="after")
    def _scale_in_order(self) -> ImageAugment:
        low, high = self.scale
        if not 0 < low <= high <= 1:
            raise ValueError(f"scale {list(self.scale)} must be two shares of the area, 0 < low <= high <= 1, "
                             "e.g. [0.6, 1.0]")
        return self


class TextAugment(BaseModel):
    """``augment:`` of a text encoder: token dropout (each word piece except special tokens dropped at random)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    views: int | None = Field(None, ge=1, description=_VIEWS)
    token_dropout: float = Field(0.1, gt=0, lt=1, description="Chance that each token (not [CLS], [SEP] and the "
                                 "like) is left out; at least one is kept.")


def crop_box(rng: random.Random, width: int, height: int, scale: tuple[float, float]) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of a random crop covering ``scale`` of the area at an aspect ratio in
    :data:`RATIO`: torchvision's ``RandomResizedCrop`` draw, made with ``rng`` (its fallback: a centre crop)."""
    area = width * height
    log_ratio = (math.log(RATIO[0]), math.log(RATIO[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w, h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, height - h), rng.randint(0, width - w), h, w
    ratio = width / height
    if ratio < RATIO[0]:
        w, h = width, int(round(width / RATIO[0]))
    elif ratio > RATIO[1]:
        w, h = int(round(height * RATIO[1])), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def drop_tokens(ids: Sequence[int], p: float, rng: random.Random, special: set[int]) -> list[int]:
    """``ids`` without each non-special token with chance ``p``; at least one non-special token stays."""
    keep = [i for i, token in enumerate(ids) if token in special or rng.random() >= p]
    plain = [i for i, token in enumerate(ids) if token not in special]
    if plain and not any(ids[i] not in special for i in keep):
        keep = sorted([*keep, rng.choice(plain)])
    return [ids[i] for i in keep]


def mapping_or_flag(value: Any, model: type[BaseModel], flags: tuple[object, ...]) -> Any:
    """``augment:`` as written, validated: one of ``flags`` (``true``/``false``, or null), or a mapping for
    ``model``; else one ValueError naming the keys (pydantic would report the mapping against every member of the
    union)."""
    keys = ", ".join(model.model_fields)
    if isinstance(value, Mapping):
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            problems = []
            for err in exc.errors(include_url=False):
                where = ".".join(str(p) for p in err["loc"])
                what = f"unknown key (the keys are {keys})" if err["type"] == "extra_forbidden" else \
                    str(err["msg"]).removeprefix("Value error, ")
                problems.append(f"{where}: {what}" if where else what)
            raise ValueError("; ".join(problems)) from None
    if isinstance(value, model) or any(value is flag for flag in flags):
        return value
    written = " or ".join("null" if f is None else str(f).lower() for f in flags)
    raise ValueError(f"expected {written}, or a mapping of {keys}; got {value!r}")
