"""What was built: one row per component with its type, modality, output width and parameter counts."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from .multimodal import MultimodalModel


@dataclass(frozen=True)
class ComponentSummary:
    component: str
    type: str
    modality: str
    output_dim: int
    parameters: int
    trainable: int
    frozen: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _count(module: nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return total, trainable


def summarize(model: MultimodalModel) -> list[ComponentSummary]:
    """Rows for encoders (sorted by modality), the fusion, the head and the unimodal heads (if any)."""
    rows = []
    for modality, encoder in model.encoders.items():
        total, trainable = _count(encoder)
        rows.append(ComponentSummary(f"encoder {modality}", encoder.config.type, encoder.modality,
                                     encoder.output_dim, total, trainable, encoder.frozen))
    total, trainable = _count(model.fusion)
    rows.append(ComponentSummary("fusion", model.fusion.config.type, ", ".join(model.fusion.modalities),
                                 model.fusion.output_dim, total, trainable))
    total, trainable = _count(model.head)
    head_type = "(in fusion)" if model.head.config.type == "none" else model.head.config.type
    rows.append(ComponentSummary("head", head_type, "", model.head.num_classes, total, trainable))
    if getattr(model, "aux", None) is not None:
        total, trainable = _count(model.aux)
        rows.append(ComponentSummary("unimodal heads", "aux_unimodal", ", ".join(model.aux.modalities),
                                     model.head.num_classes, total, trainable))
    return rows
