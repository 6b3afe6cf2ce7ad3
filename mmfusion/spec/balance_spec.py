"""``train:`` options against modality imbalance: unimodal auxiliary heads, OGM-GE gradient modulation and
scheduled modality dropout.

A fused model can lean on the input that fits the training rows fastest and neglect the others ("modality
competition"); when that input does not transfer to the test rows, the fused model loses to a single input.
Each option here is a spec key, so ``mmfusion ablate`` variants can switch it on and off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class AuxUnimodalSpec(BaseModel):
    """A classifier per input on its encoder's pooled vector, trained beside the fused head."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weight: float = Field(0.5, gt=0, description="Weight of each input's auxiliary loss, added to the fused loss.")
    inference: Literal["fused", "mixture", "dynamic"] = Field(
        "fused", description="fused: predictions come from the fused head alone (the auxiliary heads are "
        "reported only). mixture: after training, weights of the fused and the auxiliary logits are tuned on the "
        "validation data and kept in the run's weights, so evaluate, predict and export use the mixture. "
        "dynamic: per row, the fused and each present input's logits weighted by their own confidence (the "
        "negative energy, as in QMF, Zhang et al. ICML 2023): nothing is tuned on validation rows.")


class ModulationSpec(BaseModel):
    """OGM-GE (Peng et al., CVPR 2022): slow down the dominant input's gradients, with Gaussian noise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["ogm_ge"] = "ogm_ge"
    alpha: float = Field(0.5, gt=0, description="Strength: the dominant input's gradients are scaled by "
                         "1 - tanh(alpha * (ratio - 1)).")
    noise: bool = Field(True, description="GE: add Gaussian noise with the gradient's own standard deviation to "
                        "the modulated parameters' gradients (false: OGM without GE).")
    until_epoch: int | None = Field(None, ge=1, description="Last epoch that is modulated (null: every epoch).")

    def active(self, epoch: int) -> bool:
        return self.until_epoch is None or epoch <= self.until_epoch


class ModalityDropoutSpec(BaseModel):
    """Training-time dropping of inputs per row, any fusion, with per-input rates and a linear warm-up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float | dict[str, float] = Field(
        description="Probability of dropping each input of each training row: one number for every input, or "
        "a mapping input → probability (inputs left out are never dropped).")
    warmup_epochs: int = Field(0, ge=0, description="Epochs over which the rates ramp up linearly from 0: epoch e "
                               "uses rate × min(1, (e - 1) / warmup_epochs).")
    keep_full: bool = Field(
        False, description="Also train every row with all its inputs: a copy of each row that lost an input, with "
        "that input dropped, is appended to the batch, and the loss is the mean over the rows and the copies, so "
        "the model learns the missing-input answers without giving up full-input training. The fusion and head "
        "(and encoders that run in the loop) see the copies too: one larger forward pass.")

    @model_validator(mode="before")
    @classmethod
    def _number_is_the_rate(cls, value: Any) -> Any:
        """``modality_dropout: 0.3`` is ``{rate: 0.3}``."""
        return {"rate": value} if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    @field_validator("rate")
    @classmethod
    def _probabilities(cls, rate: float | dict[str, float]) -> float | dict[str, float]:
        for name, value in (rate.items() if isinstance(rate, dict) else [("rate", rate)]):
            if not 0 <= value < 1:
                raise ValueError(f"{name}: a dropout probability must satisfy 0 <= p < 1, got {value:g}")
        return rate

    def rates(self, modalities: Sequence[str], epoch: int) -> dict[str, float]:
        """Each input's dropout probability in epoch ``epoch`` (1-based), the warm-up applied."""
        ramp = 1.0 if self.warmup_epochs == 0 else min(1.0, (epoch - 1) / self.warmup_epochs)
        base = self.rate if isinstance(self.rate, dict) else {m: self.rate for m in modalities}
        return {m: float(base.get(m, 0.0)) * ramp for m in modalities}


def unknown_inputs(train: Any, inputs: Sequence[str]) -> list[tuple[tuple[str, ...], str]]:
    """Spec paths and messages for ``train.modality_dropout.rate`` keys that are not inputs of the model."""
    rate = train.modality_dropout.rate if train.modality_dropout is not None else None
    unknown = sorted(set(rate) - set(inputs)) if isinstance(rate, dict) else []
    if not unknown:
        return []
    verb = "is not an input" if len(unknown) == 1 else "are not inputs"
    return [(("train", "modality_dropout", "rate"),
             f"{', '.join(unknown)} {verb} of the model; its inputs are {', '.join(inputs)}")]


class GracefulSpec(BaseModel):
    """Train the fused model on every row also without each of its inputs, so that losing an input at inference
    leaves about what the inputs that are left give on their own ("graceful degradation by construction")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weight: float = Field(0.25, gt=0, description="Weight of the copies' loss (each input alone and each input "
                          "left out), added to the loss of the rows with all their inputs. On easy-VQA (concat, 3 "
                          "epochs) 0.25 costs nothing with every input, 1 costs 2.6 points.")

    @model_validator(mode="before")
    @classmethod
    def _true_is_the_defaults(cls, value: Any) -> Any:
        """``graceful: true`` is ``{}`` (the default weight)."""
        return {} if value is True else value


class QualityGateSpec(BaseModel):
    """At inference, treat an input whose encoder features lie far beyond the training rows' as missing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    factor: float = Field(2.0, gt=0, description="An input is dropped from a row when its drift distance exceeds "
                          "factor × the 99th percentile of the training rows' distances (train.drift's reference).")

    @model_validator(mode="before")
    @classmethod
    def _true_is_the_defaults(cls, value: Any) -> Any:
        """``quality_gate: true`` is ``{}``."""
        return {} if value is True else value
