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
