"""The assembled model: {modality: Encoder} → Fusion → Classifier."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from .batch import Batch
from .interfaces.classifier import Classifier
from .interfaces.encoder import Encoder, EncoderOutput
from .interfaces.fusion import Fusion


class MultimodalModel(nn.Module):
    """Encoders (in sorted modality order), a fusion and a head; ``forward(batch)`` returns logits."""

    def __init__(self, encoders: Mapping[str, Encoder], fusion: Fusion, head: Classifier) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict({name: encoders[name] for name in sorted(encoders)})
        self.fusion = fusion
        self.head = head

    @property
    def modalities(self) -> list[str]:
        return list(self.encoders.keys())

    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    def encode(self, batch: Batch) -> dict[str, EncoderOutput]:
        """Each modality's encoder output, taken from ``batch.features`` when precomputed."""
        outputs = {}
        for modality, encoder in self.encoders.items():
            if modality in batch.features:
                outputs[modality] = batch.features[modality]
            else:
                outputs[modality] = encoder(batch.inputs[modality])
        return outputs

    def forward(self, batch: Batch) -> Tensor:
        outputs = self.encode(batch)
        return self.head(self.fusion(outputs, batch.present))
