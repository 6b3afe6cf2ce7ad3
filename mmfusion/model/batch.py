"""A batch of samples: encoder inputs per modality, per-sample presence masks, labels.

Absent samples still get an input row (a copy of a present sample's, or the encoder's example) so
that every tensor has the batch size; the ``present`` mask, never the filler, tells fusions which
rows hold data.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..interfaces.encoder import Encoder, EncoderOutput

if TYPE_CHECKING:
    from .multimodal import MultimodalModel


@dataclass
class Batch:
    """Everything a model needs for one forward pass.

    Attributes:
        inputs: modality → the encoder's collated inputs (absent rows hold filler).
        present: modality → bool ``[B]``, True where the sample has that modality.
        labels: ``[B]`` class indexes, or None at prediction time.
        features: modality → precomputed encoder outputs (frozen-encoder cache); used instead of
            running the encoder on ``inputs``.
    """

    inputs: dict[str, dict[str, Tensor]]
    present: dict[str, Tensor]
    labels: Tensor | None = None
    features: dict[str, EncoderOutput] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(next(iter(self.present.values())).shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device, non_blocking=non_blocking)

        return Batch(
            inputs={m: {k: move(v) for k, v in d.items()} for m, d in self.inputs.items()},
            present={m: move(v) for m, v in self.present.items()},
            labels=move(self.labels),
            features={m: EncoderOutput(*(move(t) for t in o)) for m, o in self.features.items()},
        )

    def pin_memory(self) -> Batch:  # called by DataLoader(pin_memory=True)
        def pin(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.pin_memory()

        return Batch(
            inputs={m: {k: pin(v) for k, v in d.items()} for m, d in self.inputs.items()},
            present={m: pin(v) for m, v in self.present.items()},
            labels=pin(self.labels),
            features={m: EncoderOutput(*(pin(t) for t in o)) for m, o in self.features.items()},
        )


def collate_modality(
    encoder: Encoder, items: Sequence[dict[str, Tensor] | None], filler: dict[str, Tensor] | None = None
) -> tuple[dict[str, Tensor], Tensor]:
    """Collate one modality's preprocessed items; None items are absent samples.

    Args:
        encoder: the modality's encoder (its ``collate`` pads and stacks).
        items: preprocessed items, None where the sample lacks the modality.
        filler: what absent rows hold when no item in the batch is present.

    Returns:
        The collated inputs and the bool presence mask ``[B]``.
    """
    present = torch.tensor([item is not None for item in items], dtype=torch.bool)
    first = next((item for item in items if item is not None), None)
    if first is None:
        first = filler if filler is not None else encoder.preprocess(encoder.example_input(random.Random(0)))
    return encoder.collate([item if item is not None else first for item in items]), present


def make_batch(
    model: MultimodalModel, samples: Sequence[Mapping[str, Any]], labels: Sequence[int] | None = None
) -> Batch:
    """Preprocess and collate raw samples (modality → raw value, missing or None = absent)."""
    inputs, present = {}, {}
    for modality, encoder in model.encoders.items():
        values = [sample.get(modality) for sample in samples]
        indexes = [i for i, v in enumerate(values) if v is not None]
        processed = encoder.preprocess_batch([values[i] for i in indexes]) if indexes else []
        items: list[dict[str, Tensor] | None] = [None] * len(values)
        for i, item in zip(indexes, processed):
            items[i] = item
        inputs[modality], present[modality] = collate_modality(encoder, items)
    label_tensor = torch.tensor(list(labels), dtype=torch.long) if labels is not None else None
    return Batch(inputs=inputs, present=present, labels=label_tensor)


def example_batch(model: MultimodalModel, size: int = 4, *, with_absent: bool = True, seed: int = 0) -> Batch:
    """A small batch of example inputs; with ``with_absent`` sample i lacks modality i (cyclically).

    Sample 0 always has every modality, so a single-modality model still sees a present row.
    """
    rng = random.Random(seed)
    modalities = list(model.encoders)
    samples = []
    for i in range(size):
        sample = {m: enc.example_input(rng) for m, enc in model.encoders.items()}
        if with_absent and i > 0 and len(modalities) > 1:
            sample[modalities[(i - 1) % len(modalities)]] = None
        samples.append(sample)
    return make_batch(model, samples)
