"""What runs a prepared :class:`Batch` to fp32 logits for the engine: the torch model, or an ONNX Runtime session
(an fp32 export or its int8 quantisation). Each backend returns the logits and, where the model has unimodal
heads, each head's logits from the same pass, (torch only) each input's pooled encoder vectors and the fused vector,
and when asked the logits of the batch with only some inputs present (attribution)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import torch

from ..model.batch import Batch, in_channels_last
from .attribution import CoalitionValue, coalition_present, players

if TYPE_CHECKING:
    from ..model.multimodal import MultimodalModel
    from ..runtime.precision import Precision


class Outputs(NamedTuple):
    """What a backend returns for one batch."""

    #: fp32 logits
    logits: torch.Tensor
    #: each unimodal head's logits (torch backend, ``train.aux_unimodal``)
    aux: dict[str, torch.Tensor]
    #: each input's pooled encoder vectors (torch backend)
    pooled: dict[str, torch.Tensor]
    #: the presence the fusion saw (less what a quality gate dropped)
    present: dict[str, torch.Tensor]
    #: with ``explain``: the fp32 logits of the batch with only a coalition of the inputs present
    #: (:mod:`.attribution`)
    coalitions: CoalitionValue | None = None
    #: the fusion's output, the head's input (torch backend)
    fused: torch.Tensor | None = None


def channels_last_inputs(model: MultimodalModel, enabled: bool) -> list[str]:
    """The inputs whose encoders prefer channels_last, when ``train.channels_last`` is on; those encoders are put in
    that memory layout (the one place it is decided, for training and inference alike)."""
    chosen = [m for m, e in model.encoders.items() if enabled and e.prefers_channels_last]
    for m in chosen:
        model.encoders[m].to(memory_format=torch.channels_last)
    return chosen


def prepare_batch(batch: Batch, device: torch.device, channels_last: Sequence[str] = ()) -> Batch:
    """Move a batch to ``device``; image inputs of channels_last encoders get that memory layout."""
    batch = batch.to(device, non_blocking=device.type == "cuda")
    for m in channels_last:
        if m in batch.inputs:
            batch.inputs[m] = in_channels_last(batch.inputs[m])
    return batch


@dataclass
class TorchBackend:
    """The model itself, in eval mode under the run's precision."""

    model: MultimodalModel
    precision: Precision
    channels_last: Sequence[str] = ()

    @property
    def aux_inputs(self) -> list[str]:
        """The inputs with unimodal heads (``train.aux_unimodal``), whose logits each pass also returns."""
        return self.model.modalities if self.model.aux is not None else []

    def prepare(self, batch: Batch, device: torch.device) -> Batch:
        return prepare_batch(batch, device, self.channels_last)

    @torch.inference_mode()
    def __call__(self, batch: Batch, explain: bool = False) -> Outputs:
        self.model.eval()
        with self.precision.autocast():
            parts = self.model(batch, parts=True)
            logits = self.model.mixed(parts)

        def coalition(mask: int) -> torch.Tensor:  # the fusion and head again, on this pass's encoder outputs
            with torch.inference_mode(), self.precision.autocast():
                present = coalition_present(batch.present, players(batch.present), mask)
                return self.model.logits_with(parts.encoded, present, parts.aux).float()

        return Outputs(logits.float(), {m: v.float() for m, v in parts.aux.items()},
                       {m: out.pooled.float() for m, out in parts.encoded.items()}, parts.present,
                       coalition if explain else None, None if parts.fused is None else parts.fused.float())


@dataclass
class OnnxBackend:
    """An ONNX Runtime session over the exported model (inputs fed by name: ``image.pixels``, ``image.present``)."""

    session: Any
    input_names: Sequence[str]
    aux_inputs: Sequence[str] = ()

    def prepare(self, batch: Batch, device: torch.device) -> Batch:
        """The batch as it is, with its own ``present`` masks (the engine may mark inputs absent in them)."""
        return replace(batch, present=dict(batch.present))

    def __call__(self, batch: Batch, explain: bool = False) -> Outputs:
        logits = self.session.run(None, feeds_for(self.input_names, batch))[0]
        inputs = players(batch.present)

        def coalition(mask: int) -> torch.Tensor:  # the whole exported model again, with inputs marked absent
            masked = replace(batch, present=coalition_present(batch.present, inputs, mask))
            return torch.from_numpy(self.session.run(None, feeds_for(self.input_names, masked))[0]).float()

        return Outputs(torch.from_numpy(logits).float(), {}, {}, batch.present, coalition if explain else None)


def feeds_for(names: Sequence[str], batch: Batch) -> dict[str, Any]:
    """An ONNX session's inputs by name (``image.pixels``, ``image.present`` ...) from a batch, as numpy arrays."""
    feeds = {}
    for name in names:
        modality, _, key = name.partition(".")
        tensor = batch.present[modality] if key == "present" else batch.inputs[modality][key]
        feeds[name] = tensor.cpu().numpy()
    return feeds
