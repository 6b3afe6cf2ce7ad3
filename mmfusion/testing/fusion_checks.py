"""Checks every fusion must pass, on synthetic encoder outputs of three modalities."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ..interfaces.encoder import EncoderOutput
from ..interfaces.fusion import Fusion
from .common import TASK_OUTPUTS, build, check_configs, check_task_step, close, configs_for, require, roundtrip_state

#: modality → (dim, token count or None): one pooled-only modality, two with (padded) tokens
INPUTS = {"text": (12, 5), "image": (8, 4), "extra": (6, None)}
DIMS = {m: d for m, (d, _) in INPUTS.items()}
#: rows 0..4: all present, then each modality missing in turn, then only one present
PRESENT = {"extra": [1, 0, 1, 1, 0], "image": [1, 1, 0, 1, 1], "text": [1, 1, 1, 0, 0]}
NUM_CLASSES = 5


def make_outputs(seed: int = 0) -> dict[str, EncoderOutput]:
    g = torch.Generator().manual_seed(seed)
    outputs = {}
    for m, (dim, count) in INPUTS.items():
        pooled = torch.randn(5, dim, generator=g)
        if count is None:
            outputs[m] = EncoderOutput(pooled)
        else:
            tokens = torch.randn(5, count, dim, generator=g)
            mask = torch.ones(5, count, dtype=torch.bool)
            mask[0, -2:] = False  # sample 0 has two padding tokens
            outputs[m] = EncoderOutput(pooled, tokens, mask)
    return outputs


def make_present() -> dict[str, torch.Tensor]:
    return {m: torch.tensor(v, dtype=torch.bool) for m, v in PRESENT.items()}


def construct(component: type[Fusion], config, dims=DIMS, num_classes: int = NUM_CLASSES,  # type: ignore
              seed: int = 0) -> Fusion:
    """Build a fusion as the builder does; those that output logits themselves also get ``num_classes``."""
    if getattr(component, "produces_logits", False):
        return build(component, config, dims, num_classes, kind="fusion", num_classes=num_classes, seed=seed)
    return build(component, config, dims, kind="fusion", seed=seed)


def _built(component: type[Fusion]) -> Iterator[Fusion]:
    return (construct(component, config).eval() for config in configs_for(component))


def _run(fusion: Fusion, outputs, present) -> torch.Tensor:  # type: ignore[no-untyped-def]
    with torch.no_grad():
        return fusion(outputs, present)


def check_fusion_config(component: type[Fusion]) -> None:
    """Configs round-trip through JSON, forbid unknown keys and carry the component's name as type."""
    check_configs(component)


def check_fusion_output_dims(component: type[Fusion]) -> None:
    """forward returns finite [B, output_dim] for mixed presence, including single-modality rows."""
    for fusion in _built(component):
        require(isinstance(fusion.output_dim, int) and fusion.output_dim > 0, "output_dim must be a positive int")
        require(fusion.modalities == sorted(INPUTS), "self.modalities must be the input modalities, sorted")
        out = _run(fusion, make_outputs(), make_present())
        require(tuple(out.shape) == (5, fusion.output_dim),
                f"output has shape {tuple(out.shape)}, expected (5, {fusion.output_dim})")
        require(bool(torch.isfinite(out).all()), "output holds non-finite values (all-masked attention?)")


def stand_in(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Filler for an absent modality that normalisation cannot cancel: every feature a different value, large
    and of either sign. Two stand-ins with different seeds are no scaled or shifted copy of each other, so a
    fusion that applies LayerNorm before (forgetting to) mask still sees them differ."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * 50 + torch.randn(shape[-1:], generator=g) * 20


def _with_filler(outputs, m: str, row: int, seed: int):  # type: ignore[no-untyped-def]
    """``outputs`` with modality ``m`` of sample ``row`` (pooled and tokens) replaced by a stand-in."""
    pooled, tokens = (None if t is None else t.clone() for t in outputs[m][:2])
    pooled[row] = stand_in(tuple(pooled[row].shape), seed)
    if tokens is not None:
        tokens[row] = stand_in(tuple(tokens[row].shape), seed + 1)
    return {**outputs, m: outputs[m]._replace(pooled=pooled, tokens=tokens)}


def check_fusion_absent_modality_ignored(component: type[Fusion]) -> None:
    """Changing an absent modality's features (or another sample) leaves a sample's output unchanged."""
    for fusion in _built(component):
        present = make_present()
        base = _run(fusion, make_outputs(), present)
        for m in INPUTS:
            for row in (i for i in range(5) if not present[m][i]):
                for seed in (11, 23):
                    out = _run(fusion, _with_filler(make_outputs(), m, row, seed), present)
                    require(close(out[row], base[row], atol=1e-5),
                            f"sample {row}'s output changed when its absent modality '{m}' changed: absent "
                            "features reach the output (use the present mask)")
        other = make_outputs(seed=7)
        mixed = {m: EncoderOutput(*(None if t is None else torch.cat([t[:1], s[1:]])
                                    for t, s in zip(make_outputs()[m], other[m]))) for m in INPUTS}
        require(close(_run(fusion, mixed, present)[0], base[0], atol=1e-5),
                "sample 0's output depends on the other samples in the batch")


def check_fusion_padding_ignored(component: type[Fusion]) -> None:
    """Tokens masked out by token_mask do not influence the output."""
    for fusion in _built(component):
        present = make_present()
        base = _run(fusion, make_outputs(), present)
        changed = make_outputs()
        tokens = changed["text"].tokens.clone()
        tokens[0, -2:] = 100.0
        changed["text"] = changed["text"]._replace(tokens=tokens)
        require(close(_run(fusion, changed, present)[0], base[0], atol=1e-5),
                "padding tokens (token_mask False) changed the output")


def check_fusion_modality_order(component: type[Fusion]) -> None:
    """The order of the mappings passed in does not matter (modalities iterate in sorted order)."""
    for config, fusion in zip(configs_for(component), _built(component)):
        outputs, present = make_outputs(), make_present()
        reordered = _run(fusion, dict(reversed(outputs.items())), dict(reversed(present.items())))
        require(close(_run(fusion, outputs, present), reordered, atol=1e-6),
                "the output depends on the order of the modality mappings")
        # built with input_dims in another order: same parameter names and shapes
        other = construct(component, config, dims=dict(reversed(DIMS.items())))
        shapes = {k: v.shape for k, v in fusion.state_dict().items()}
        require(shapes == {k: v.shape for k, v in other.state_dict().items()},
                "parameters depend on the order of input_dims")


def check_fusion_state_dict_roundtrip(component: type[Fusion]) -> None:
    """Weights saved with safetensors and loaded into a fresh instance give the same outputs."""
    for config, first in zip(configs_for(component), _built(component)):
        second = construct(component, config, seed=1).eval()
        roundtrip_state(first, second, component)
        outputs, present = make_outputs(), make_present()
        require(close(_run(first, outputs, present), _run(second, outputs, present), atol=1e-6),
                "outputs differ after loading the saved state_dict")


def check_fusion_trainable(component: type[Fusion]) -> None:
    """In training mode gradients reach the fusion's parameters and the encoder outputs."""
    for fusion in _built(component):
        fusion.train()
        outputs = make_outputs()
        leaves = [t.requires_grad_(True) for t in (outputs["image"].pooled, outputs["image"].tokens) if t is not None]
        out = fusion(outputs, make_present())
        # a random projection, not .sum(): the sum of a LayerNorm output has no gradient
        (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(0))).sum().backward()
        params = list(fusion.parameters())
        require(not params or any(p.grad is not None for p in params), "no fusion parameter received a gradient")
        require(any(t.grad is not None and bool(t.grad.abs().sum() > 0) for t in leaves),
                "no gradient reaches the encoder outputs: fine-tuning encoders would be impossible")


def check_fusion_single_modality(component: type[Fusion]) -> None:
    """A fusion also works when the model has a single modality (unimodal baselines)."""
    for config in configs_for(component):
        fusion = construct(component, config, dims={"image": 8}).eval()
        outputs = {"image": make_outputs()["image"]}
        out = _run(fusion, outputs, {"image": torch.ones(5, dtype=torch.bool)})
        require(tuple(out.shape) == (5, fusion.output_dim),
                f"with a single modality the output has shape {tuple(out.shape)}, expected (5, {fusion.output_dim})")


def check_fusion_tasks(component: type[Fusion]) -> None:
    """Every task trains through the fusion (and a linear head, unless it outputs logits itself): 5 outputs with
    cross-entropy (multiclass) or binary cross-entropy on multi-hot targets (multilabel), and one logit (binary)."""
    for config in configs_for(component):
        for task, outputs in TASK_OUTPUTS:
            fusion = construct(component, config, num_classes=outputs).train()
            logits_itself = getattr(component, "produces_logits", False)
            if logits_itself:
                require(fusion.output_dim == outputs, f"{task}: a fusion that outputs logits must have output_dim "
                        f"== num_classes ({outputs}), got {fusion.output_dim}")
            head = torch.nn.Identity() if logits_itself else torch.nn.Linear(fusion.output_dim, outputs)
            outputs_in = make_outputs()
            leaves = [o.pooled.requires_grad_(True) for o in outputs_in.values()]
            logits = head(fusion(outputs_in, make_present()))
            check_task_step(f"{component.__name__} (num_classes={outputs})", task, logits, (5, outputs),
                            list(fusion.parameters()), leaves)


def check_fusion_modality_parameters(component: type[Fusion]) -> None:
    """``modality_parameters`` (gradient modulation's per-input layers) gives parameters of the fusion itself, each
    to one input at most."""
    for fusion in _built(component):
        own = {id(p) for p in fusion.parameters()}
        owner: dict[int, str] = {}
        for m in fusion.modalities:
            for param in fusion.modality_parameters(m):
                require(id(param) in own, f"modality_parameters('{m}') gives a parameter that is not the fusion's")
                require(owner.get(id(param), m) == m, f"modality_parameters gives one parameter to both "
                        f"'{owner.get(id(param))}' and '{m}': a layer that reads several inputs belongs to none")
                owner[id(param)] = m


def check_fusion_degradation_options(component: type[Fusion]) -> None:
    """The options for graceful degradation work with the fusion: ``train.graceful``'s copies of a row with fewer
    inputs each give what that row gives with those inputs alone, and a row whose input ``train.quality_gate``
    drops gives what it gives without that input."""
    from ..model.batch import Batch
    from ..model.quality_gate import QualityGate
    from ..training.modality_dropout import with_subset_copies

    for fusion in _built(component):
        outputs, present = make_outputs(), make_present()
        names = sorted(outputs)
        batch = Batch(inputs={}, present=present, labels=torch.arange(5), features=outputs)
        extended, copies = with_subset_copies(batch, names)
        require(copies > 0, "the check's rows have inputs to leave out")
        fused = _run(fusion, extended.features, extended.present)
        require(bool(torch.isfinite(fused).all()), "the fused output of graceful's copies is not finite")
        for k in range(5, 5 + copies):
            row = int(extended.labels[k])
            alone = {m: extended.present[m][k].expand(5).clone() for m in names}
            require(close(fused[k], _run(fusion, outputs, alone)[row]),
                    f"graceful: row {row} with only {[m for m in names if bool(alone[m][0])]} gives another output "
                    "as one of a batch's copies than on its own")
        gate = QualityGate({m: o.pooled.shape[1] for m, o in outputs.items()})
        for m in names:
            gate.inputs[m].mean.copy_(outputs[m].pooled.mean(dim=0))
            gate.inputs[m].threshold.fill_(1e3)
        far = {m: o._replace(pooled=o.pooled.clone()) for m, o in outputs.items()}
        far["image"].pooled[0] += 1e3  # row 0 has every input: its image is beyond the gate
        gated = gate(far, present)
        require(not bool(gated["image"][0]) and all(bool(gated[m][0]) for m in names if m != "image"),
                "quality gate: the far-off image of row 0 is not the one dropped")
        without = dict(present, image=present["image"].clone())
        without["image"][0] = False
        require(close(_run(fusion, far, gated)[0], _run(fusion, far, without)[0]),
                "quality gate: a row whose image the gate dropped differs from the row without its image")


FUSION_CHECKS = [check_fusion_config, check_fusion_output_dims, check_fusion_absent_modality_ignored,
                 check_fusion_padding_ignored, check_fusion_modality_order, check_fusion_state_dict_roundtrip,
                 check_fusion_trainable, check_fusion_single_modality, check_fusion_tasks,
                 check_fusion_modality_parameters, check_fusion_degradation_options]
