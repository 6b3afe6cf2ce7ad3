"""The ``peft:`` option of encoders: which parameter-efficient fine-tuning method adapts a pretrained encoder.

Three methods, a discriminated union on ``type``: LoRA and IA3 through the ``peft`` library (imported only when an
encoder uses them, by :mod:`mmfusion.model.peft`), and bias-only tuning (BitFit), which ``peft`` lacks and which is
no more than choosing which parameters train. With any of them the encoder's base weights stay fixed; only the
adapters (or the biases) train and are saved in the run. An encoder offers the option by deriving its config
from :class:`PeftEncoderConfig`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..errors import did_you_mean
from .config import EncoderConfig

_TARGETS = ("Names of the layers to adapt, matched like peft's `target_modules`: a layer whose name is one of them "
            "or ends with '.' + one (e.g. query, value; qkv for timm ViTs). Default: the encoder family's (see "
            "docs/peft.md); an architecture without a default needs them, and the error lists its candidate layers.")


class _Method(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoraOptions(_Method):
    """LoRA: a trainable low-rank update ``B·A`` (rank ``r``, scaled by ``alpha / r``) beside each target layer."""

    type: Literal["lora"] = "lora"
    r: int = Field(8, ge=1, description="Rank of the update: the adapters' size grows with it.")
    alpha: int = Field(16, ge=1, description="Scale of the update, as alpha / r (peft's lora_alpha).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the adapters' input while training.")
    target_modules: list[str] | None = Field(None, min_length=1, description=_TARGETS)


class IA3Options(_Method):
    """IA3: trainable vectors that rescale the target layers' outputs (feed-forward layers': their inputs)."""

    type: Literal["ia3"] = "ia3"
    target_modules: list[str] | None = Field(None, min_length=1, description=_TARGETS)
    feedforward_modules: list[str] | None = Field(
        None, description="Those of target_modules whose input, not output, is rescaled (the feed-forward "
        "layers). Default: the family's when target_modules is unset, else none.")

    @model_validator(mode="after")
    def _feedforward_within_targets(self) -> IA3Options:
        if self.feedforward_modules and self.target_modules is None:
            raise ValueError("feedforward_modules needs target_modules too (it names some of them)")
        stray = [m for m in self.feedforward_modules or () if m not in (self.target_modules or ())]
        if stray:
            raise ValueError(f"feedforward_modules must be some of target_modules; '{stray[0]}' is not: add it to "
                             "target_modules or remove it")
        return self


class BiasOptions(_Method):
    """Bias-only tuning (BitFit): every bias of the encoder trains, every other weight stays fixed."""

    type: Literal["bias"] = "bias"


PeftOptions = Annotated[LoraOptions | IA3Options | BiasOptions, Field(discriminator="type")]

#: each method's options by ``type``
METHODS: dict[str, type[_Method]] = {"lora": LoraOptions, "ia3": IA3Options, "bias": BiasOptions}


def _problem(message: str) -> PydanticCustomError:
    return PydanticCustomError("peft", message)  # no context: the message is shown as it is


def _checked(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """The union's validation with messages in the spec's terms: an unknown method or key is named with the
    choices, ``peft: lora`` is short for ``{type: lora}``, and a path reads ``peft.r``, not ``peft.lora.r``."""
    choices = ", ".join(METHODS)
    if isinstance(value, str):
        value = {"type": value}
    if value is not None and not isinstance(value, dict | BaseModel):
        raise _problem(f"expected a mapping with the method's 'type' and options, e.g. type: lora and r: 8 "
                       f"(available types: {choices}; see docs/peft.md)")
    if isinstance(value, dict):
        kind = value.get("type")
        if kind not in METHODS:
            asked = f"unknown peft type '{kind}'{did_you_mean(str(kind), METHODS)}" if kind else "missing 'type'"
            raise _problem(f"{asked} (available: {choices}; see docs/peft.md)")
        fields = METHODS[kind].model_fields
        unknown = [k for k in value if k not in fields]
        if unknown:
            keys = ", ".join(k for k in fields if k != "type") or "none besides type"
            raise _problem(f"unknown key '{unknown[0]}' for peft type '{kind}'{did_you_mean(unknown[0], fields)} "
                           f"(its keys: {keys})")
    try:
        return handler(value)
    except ValidationError as exc:  # again without the union's tag in the path
        tag = value.get("type") if isinstance(value, dict) else None
        raise ValidationError.from_exception_data("peft", [
            {"type": _problem(str(e["msg"]).removeprefix("Value error, ")),
             "loc": tuple(e["loc"])[1:] if e["loc"] and e["loc"][0] == tag else tuple(e["loc"]),
             "input": e.get("input")} for e in exc.errors(include_url=False)]) from None


class PeftEncoderConfig(EncoderConfig):
    """An encoder config with the ``peft:`` option (encoders whose layers peft can adapt)."""

    peft: PeftOptions | None = Field(
        None, description="Parameter-efficient fine-tuning: {type: lora, r: 8, alpha: 16}, {type: ia3} or "
        "{type: bias}. The base weights stay fixed and are saved by reference; only the adapters (or the biases) "
        "train, at train.lr, and go into the run. Exports merge them into the weights. See docs/peft.md.")

    @field_validator("peft", mode="wrap")
    @classmethod
    def _method(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return _checked(value, handler)

    @model_validator(mode="after")
    def _not_frozen_too(self) -> PeftEncoderConfig:
        if self.peft is not None and self.freeze:
            raise ValueError(f"freeze: true and peft ({self.peft.type}) are both set; peft keeps the base weights "
                             "fixed already and trains only its adapters: set freeze: false (or remove peft)")
        return self
