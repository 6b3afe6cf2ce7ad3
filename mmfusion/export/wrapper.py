"""A plain-tensor view of the model: flat inputs (per modality its tensors, then its presence mask) → logits."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..model.batch import Batch
from ..model.featurizer import example_batch
from ..model.multimodal import MultimodalModel


class TensorInterface(nn.Module):
    """Wraps a :class:`MultimodalModel` so that exporters see only tensors.

    Inputs, in order: for each modality (sorted), its encoder input tensors (sorted by name), then
    its ``present`` mask (bool ``[B]``). Output: logits ``[B, num_classes]``.
    """

    def __init__(self, model: MultimodalModel, layout: Sequence[tuple[str, Sequence[str]]]) -> None:
        super().__init__()
        self.model = model
        self.layout = [(m, list(keys)) for m, keys in layout]

    @property
    def input_names(self) -> list[str]:
        return [name for m, keys in self.layout for name in [*(f"{m}.{k}" for k in keys), f"{m}.present"]]

    def forward(self, *tensors: Tensor) -> Tensor:
        flat = iter(tensors)
        inputs: dict[str, dict[str, Tensor]] = {}
        present: dict[str, Tensor] = {}
        for m, keys in self.layout:
            inputs[m] = {key: next(flat) for key in keys}
            present[m] = next(flat)
        return self.model(Batch(inputs=inputs, present=present))


def flatten(batch: Batch, layout: Sequence[tuple[str, Sequence[str]]]) -> list[Tensor]:
    """A batch as the flat tensor list a :class:`TensorInterface` takes."""
    return [t for m, keys in layout for t in [*(batch.inputs[m][k] for k in keys), batch.present[m]]]


def interface_for(model: MultimodalModel, batch_size: int = 4) -> tuple[TensorInterface, Batch]:
    """The wrapper and an example batch (with absent rows) that fixes the input layout."""
    batch = example_batch(model, batch_size)
    layout = [(m, sorted(batch.inputs[m])) for m in model.modalities]
    return TensorInterface(model.eval(), layout).eval(), batch


def variable_axes(batch: Batch, layout: Sequence[tuple[str, Sequence[str]]]) -> list[dict[int, str]]:
    """Per flat input, which axes vary: the batch axis always; text-like ``[B, T]`` id tensors' length too."""
    def varying(m: str, key: str) -> dict[int, str]:
        tensor = batch.inputs[m][key]
        token_ids = tensor.ndim == 2 and tensor.dtype in (torch.long, torch.int32) and key != "categorical"
        return {0: "batch", 1: f"{m}_length"} if token_ids else {0: "batch"}

    return [axes for m, keys in layout for axes in [*(varying(m, k) for k in keys), {0: "batch"}]]
