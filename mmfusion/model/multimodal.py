"""The assembled model: {modality: Encoder} → Fusion → Classifier (and optional unimodal heads)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from torch import Tensor, nn

from ..interfaces.classifier import Classifier
from ..interfaces.encoder import Encoder, EncoderOutput
from ..interfaces.fusion import Fusion
from .batch import Batch
from .quality_gate import QualityGate
from .unimodal import UnimodalHeads


class ModelParts(NamedTuple):
    """What training needs from one forward pass (``model(batch, parts=True)``)."""

    #: the fused head's logits ``[B, C]``
    logits: Tensor
    #: each input's auxiliary logits (empty without ``train.aux_unimodal``)
    aux: dict[str, Tensor]
    #: each input's encoder output, for measures that rerun the fusion (gradient modulation)
    encoded: dict[str, EncoderOutput]
    #: the presence masks the fusion saw: the batch's, less what a fitted quality gate dropped in eval mode
    present: dict[str, Tensor]
    #: the fusion's output ``[B, D]``, the head's input (embeddings: ``mmfusion embed``)
    fused: Tensor | None = None


class MultimodalModel(nn.Module):
    """Encoders (in sorted modality order), a fusion, a head, with ``train.aux_unimodal`` the unimodal auxiliary
    heads (``aux``, else None) and with ``train.quality_gate`` the gate (``gate``, else None); ``forward(batch)``
    returns logits."""

    def __init__(self, encoders: Mapping[str, Encoder], fusion: Fusion, head: Classifier,
                 aux: UnimodalHeads | None = None, gate: QualityGate | None = None) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict({name: encoders[name] for name in sorted(encoders)})
        self.fusion = fusion
        self.head = head
        self.aux = aux
        self.gate = gate

    @property
    def modalities(self) -> list[str]:
        return list(self.encoders.keys())

    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    def encode(self, batch: Batch) -> dict[str, EncoderOutput]:
        """Each modality's encoder output, taken from ``batch.features`` when precomputed."""
        return {modality: batch.features[modality] if modality in batch.features else encoder(batch.inputs[modality])
                for modality, encoder in self.encoders.items()}

    def fuse(self, outputs: Mapping[str, EncoderOutput], present: Mapping[str, Tensor]) -> Tensor:
        """The fused head's logits from encoder outputs (rerun with other ``present`` masks to ablate inputs)."""
        return self.head(self.fusion(outputs, present))

    def forward(self, batch: Batch, parts: bool = False) -> Tensor | ModelParts:
        """Logits ``[B, C]``; in eval mode with a tuned mixture, the mixture of fused and auxiliary logits, and with
        a fitted quality gate, without the inputs it dropped. With ``parts``, the :class:`ModelParts` training needs
        instead."""
        outputs = self.encode(batch)
        present = batch.present
        if self.gate is not None and not self.training:
            present = self.gate(outputs, present)
        vector = self.fusion(outputs, present)
        fused = self.head(vector)  # what fuse() gives, keeping the head's input for parts
        mixing = self.aux is not None and self.aux.mixes and not self.training
        if not (parts or mixing):
            return fused
        model_parts = ModelParts(fused, self.aux(outputs) if self.aux is not None else {}, outputs, dict(present),
                                 vector)
        return model_parts if parts else self.mixed(model_parts)

    def logits_with(self, outputs: Mapping[str, EncoderOutput], present: Mapping[str, Tensor],
                    aux: Mapping[str, Tensor] | None = None) -> Tensor:
        """The eval-mode logits of encoder outputs (and the unimodal heads' logits of them) with ``present`` as the
        inputs' presence: what ``forward`` gives for a batch with those masks, without running the encoders again
        (attribution reruns it with inputs left out)."""
        if self.gate is not None and not self.training:
            present = self.gate(outputs, present)
        return self.mixed(ModelParts(self.fuse(outputs, present), dict(aux or {}), dict(outputs), dict(present)))

    def mixed(self, parts: ModelParts) -> Tensor:
        """The eval-mode logits of one forward pass's parts: the fused logits, mixed with the unimodal heads' when
        ``inference`` is ``mixture`` or ``dynamic`` (:mod:`~mmfusion.model.unimodal` has the formulas)."""
        return parts.logits if self.aux is None else self.aux.mix(parts.logits, parts.aux, parts.present)
