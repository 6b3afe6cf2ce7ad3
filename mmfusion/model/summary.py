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
    #: the ``peft:`` method of an adapted encoder (its trainable count is the adapters' alone); None: none
    peft: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _row(component: str, kind: str, modality: str, width: int, module: nn.Module,
         frozen: bool = False) -> ComponentSummary:
    counts = [(p.numel(), p.requires_grad) for p in module.parameters()]
    return ComponentSummary(component, kind, modality, width, sum(n for n, _ in counts),
                            sum(n for n, grad in counts if grad), frozen, getattr(module, "peft_type", None))


def summarize(model: MultimodalModel) -> list[ComponentSummary]:
    """Rows for encoders (sorted by modality), the fusion, the head and the unimodal heads (if any)."""
    fusion, head, aux = model.fusion, model.head, model.aux
    rows = [_row(f"encoder {m}", e.config.type, e.modality, e.output_dim, e, e.frozen)
            for m, e in model.encoders.items()]
    rows.append(_row("fusion", fusion.config.type, ", ".join(fusion.modalities), fusion.output_dim, fusion))
    head_type = "(in fusion)" if head.config.type == "none" else head.config.type
    rows.append(_row("head", head_type, "", head.num_classes, head))
    if aux is not None:
        rows.append(_row("unimodal heads", "aux_unimodal", ", ".join(aux.modalities), head.num_classes, aux))
    return rows
