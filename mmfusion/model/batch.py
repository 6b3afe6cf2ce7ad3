"""A batch of samples: encoder inputs per modality, per-sample presence masks, labels.

Absent samples still get an input row (:mod:`mmfusion.model.featurizer` fills it) so that every tensor
has the batch size; the ``present`` mask, never the filler, tells fusions which rows hold data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..interfaces.encoder import EncoderOutput


@dataclass
class Batch:
    """Everything a model needs for one forward pass: per modality the encoder's collated ``inputs`` (absent rows
    hold filler) and the bool ``present`` mask ``[B]``, the ``labels`` (None at prediction time), and per modality
    precomputed encoder outputs (the frozen-feature cache's ``features``), used instead of running the encoder."""

    inputs: dict[str, dict[str, Tensor]]
    present: dict[str, Tensor]
    labels: Tensor | None = None
    features: dict[str, EncoderOutput] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(next(iter(self.present.values())).shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """The batch with every tensor it holds on ``device``."""
        def each(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device, non_blocking=non_blocking)

        return Batch(
            inputs={m: {k: each(v) for k, v in d.items()} for m, d in self.inputs.items()},
            present={m: each(v) for m, v in self.present.items()},
            labels=each(self.labels),
            features={m: EncoderOutput(*(each(t) for t in o)) for m, o in self.features.items()},
        )


def in_channels_last(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
    """An encoder's inputs with its image tensors (``[B, C, H, W]``) in channels_last memory layout, for encoders
    that prefer it (training, inference and the feature cache alike)."""
    return {k: v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v for k, v in inputs.items()}
