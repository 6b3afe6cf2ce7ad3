"""What runs a prepared :class:`Batch` to fp32 logits for the engine: the torch model, or an ONNX Runtime session
(an fp32 export or its int8 quantisation). Each backend returns the logits and, where the model has unimodal
heads, each head's logits from the same pass, and (torch only) each input's pooled encoder vectors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from ..model.batch import Batch, in_channels_last

if TYPE_CHECKING:
    from ..model.multimodal import MultimodalModel
    from ..runtime.precision import Precision

#: logits, the unimodal heads' logits, each input's pooled vectors (empty where the backend cannot see them)
#: fp32 logits, each unimodal head's logits, each input's pooled vectors, the presence the fusion saw (less what
#: a quality gate dropped)
Outputs = tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]


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
    def __call__(self, batch: Batch) -> Outputs:
        self.model.eval()
        with self.precision.autocast():
            parts = self.model(batch, parts=True)
            logits = self.model.mixed(parts)
        return (logits.float(), {m: v.float() for m, v in parts.aux.items()},
                {m: out.pooled.float() for m, out in parts.encoded.items()}, parts.present)


@dataclass
class OnnxBackend:
    """An ONNX Runtime session over the exported model (inputs fed by name: ``image.pixels``, ``image.present``)."""

    session: Any
    input_names: Sequence[str]
    aux_inputs: Sequence[str] = ()

    def prepare(self, batch: Batch, device: torch.device) -> Batch:
        """The batch as it is, with its own ``present`` masks (the engine may mark inputs absent in them)."""
        return replace(batch, present=dict(batch.present))

    def __call__(self, batch: Batch) -> Outputs:
        logits = self.session.run(None, feeds_for(self.input_names, batch))[0]
        return torch.from_numpy(logits).float(), {}, {}, batch.present


def feeds_for(names: Sequence[str], batch: Batch) -> dict[str, Any]:
    """An ONNX session's inputs by name (``image.pixels``, ``image.present`` ...) from a batch, as numpy arrays."""
    feeds = {}
    for name in names:
        modality, _, key = name.partition(".")
        tensor = batch.present[modality] if key == "present" else batch.inputs[modality][key]
        feeds[name] = tensor.cpu().numpy()
    return feeds
