"""Applying an encoder's ``peft:`` option, and merging adapters into plain layers for export.

LoRA and IA3 layers are injected by the ``peft`` library (imported here, lazily: only a spec that asks for them needs
it) into the encoder's :meth:`~mmfusion.interfaces.encoder.Encoder.peft_target`, in place, so the encoder's own code
runs unchanged; bias-only tuning (BitFit) only chooses which parameters train. Either way the encoder records what
trains (:meth:`~mmfusion.interfaces.encoder.Encoder.use_peft`); everything else is its base, fixed, which a run saves
by reference (:mod:`mmfusion.run.frozen`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn

from ..errors import MMFusionError, SpecError
from ..interfaces.encoder import Encoder
from ..interfaces.peft import BiasOptions, IA3Options, LoraOptions

INSTALL = "pip install 'mmfusion[peft]'"

#: default targets per architecture family, the first whose LoRA layers all exist: (family, LoRA targets, IA3
#: targets, IA3 feed-forward targets); peft's own table knows BERT but not ViT, CLIP or timm
FAMILIES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    ("BERT-like and Hugging Face ViT/DeiT/DINOv2", ("query", "value"), ("key", "value", "output.dense"),
     ("output.dense",)),
    ("CLIP and SigLIP towers", ("q_proj", "v_proj"), ("k_proj", "v_proj", "fc2"), ("fc2",)),
    ("DistilBERT", ("q_lin", "v_lin"), ("k_lin", "v_lin", "lin2"), ("lin2",)),
    ("timm ViT/DeiT", ("qkv",), ("qkv", "fc2"), ("fc2",)),
)


def _peft() -> Any:
    try:
        import peft
    except ImportError:
        raise MMFusionError(f"peft: LoRA and IA3 need the peft library: {INSTALL}") from None
    return peft


def _matches(name: str, target: str) -> bool:
    """peft's rule for a list of target_modules: the layer's name is the target or ends with '.' + target."""
    return name == target or name.endswith(f".{target}")


def _adaptable(module: nn.Module, method: str) -> bool:
    """Layers peft can adapt with ``method``: linear layers and ungrouped convolutions (LoRA also embeddings)."""
    kinds: tuple[type, ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    if method == "lora":
        kinds = (*kinds, nn.Embedding)
    conv1d = type(module).__name__ == "Conv1D"  # transformers' GPT-2 layer
    return (isinstance(module, kinds) or conv1d) and getattr(module, "groups", 1) == 1


def candidates(target: nn.Module, method: str) -> str:
    """The names of the layers ``method`` can adapt, each with how many layers carry it, for messages."""
    counts: dict[str, list[str]] = {}
    for name, module in target.named_modules():
        if name and _adaptable(module, method):
            counts.setdefault(name.rsplit(".", 1)[-1], []).append(type(module).__name__)
    return ", ".join(f"{leaf} ({len(kinds)} {kinds[0]})" for leaf, kinds in sorted(counts.items())) or "none"


def _targets(options: LoraOptions | IA3Options, target: nn.Module, *, path: str, what: str
             ) -> tuple[list[str], list[str]]:
    """The target (and IA3 feed-forward) layer names: the spec's, checked against the model, else the family's."""
    method = options.type
    names = [name for name, _ in target.named_modules() if name]
    asked = options.target_modules
    if asked is None:
        for _, lora, ia3, feedforward in FAMILIES:
            if all(any(_matches(n, t) for n in names) for t in lora):
                return (list(lora), []) if method == "lora" else (list(ia3), list(feedforward))
        raise SpecError(f"{path}.target_modules: mmfusion has no default {method} targets for {what}; name the layers "
                        f"to adapt, e.g. target_modules: [...]. Layers {method} can adapt here (name, count, kind): "
                        f"{candidates(target, method)}")
    modules = dict(target.named_modules())
    for wanted in asked:
        found = [n for n in names if _matches(n, wanted)]
        if not found:
            raise SpecError(f"{path}.target_modules: '{wanted}' matches no layer of {what}. Layers {method} can "
                            f"adapt here (name, count, kind): {candidates(target, method)}")
        unfit = [n for n in found if not _adaptable(modules[n], method)]
        if unfit:
            kind = type(modules[unfit[0]]).__name__
            raise SpecError(f"{path}.target_modules: '{wanted}' matches {unfit[0]}, a {kind}, which {method} cannot "
                            f"adapt (linear layers and convolutions without groups). Layers it can adapt here: "
                            f"{candidates(target, method)}")
    feedforward = list(options.feedforward_modules or ()) if isinstance(options, IA3Options) else []
    return list(asked), feedforward


def _peft_config(options: LoraOptions | IA3Options, targets: list[str], feedforward: list[str]) -> Any:
    peft = _peft()
    if isinstance(options, LoraOptions):
        return peft.LoraConfig(r=options.r, lora_alpha=options.alpha, lora_dropout=options.dropout,
                               target_modules=targets, bias="none")
    return peft.IA3Config(target_modules=targets, feedforward_modules=feedforward)


def _prefix(encoder: Encoder, target: nn.Module) -> str:
    if target is encoder:
        return ""
    name = next((n for n, m in encoder.named_modules() if m is target), None)
    if name is None:
        raise MMFusionError(f"encoder '{encoder.name}': peft_target() is not a part of the encoder")
    return f"{name}."


def apply_peft(encoder: Encoder, options: LoraOptions | IA3Options | BiasOptions, *, path: str) -> None:
    """Adapt ``encoder`` (weights loaded) with ``options``; afterwards only the adapters (or biases) train.

    Raises:
        SpecError: target_modules match no layer, or a layer the method cannot adapt, or the encoder has no
            default targets (the message names ``path`` and lists the layers it can adapt).
        MMFusionError: peft is not installed.
    """
    target = encoder.peft_target()
    what = f"this {encoder.name} encoder ({type(target).__name__})"
    if isinstance(options, BiasOptions):
        trainable = [name for name, _ in encoder.named_parameters() if name.rsplit(".", 1)[-1] == "bias"]
        if not trainable:
            raise SpecError(f"{path}: {what} has no bias parameters to train; choose peft type lora or ia3")
        encoder.use_peft("bias", trainable)
        return
    targets, feedforward = _targets(options, target, path=path, what=what)
    before = dict(target.named_modules(remove_duplicate=False))
    try:
        _peft().inject_adapter_in_model(_peft_config(options, targets, feedforward), target)
    except (ValueError, TypeError) as exc:  # e.g. a grouped convolution whose groups do not divide r
        raise SpecError(f"{path}: peft cannot adapt {what} with {targets}: {exc}") from None
    _repoint_aliases(encoder, before, dict(target.named_modules(remove_duplicate=False)))
    prefix = _prefix(encoder, target)
    encoder.use_peft(options.type, [prefix + n for n, p in target.named_parameters() if p.requires_grad])


def _repoint_aliases(encoder: nn.Module, before: dict[str, nn.Module], after: dict[str, nn.Module]) -> None:
    """peft swaps each adapted layer where it sits in the model; an encoder that also holds that layer under a
    second name (a CLIP encoder's handle on its projection) must hold the adapted layer there too, or its forward
    would run the old one and the adapter would never act."""
    replaced = {id(old): after[name] for name, old in before.items() if name in after and after[name] is not old}
    if not replaced:
        return
    wrappers = {id(new) for new in replaced.values()}
    for parent in encoder.modules():
        if id(parent) in wrappers:  # the adapted layer holds the old one as its base_layer: that one stays
            continue
        for attribute, child in list(parent._modules.items()):
            if child is not None and id(child) in replaced:
                setattr(parent, attribute, replaced[id(child)])


def _tuner_layers(model: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """(parent, attribute, layer) of every peft layer, each place it is held (an encoder may hold one twice)."""
    found = []
    for parent in model.modules():
        for attribute, child in parent.named_children():
            if hasattr(child, "base_layer") and hasattr(child, "merge") and type(child).__module__.startswith("peft."):
                found.append((parent, attribute, child))
    return found


@contextmanager
def adapters_merged(model: nn.Module) -> Iterator[None]:
    """For the block, every peft layer of ``model`` is replaced by a plain layer whose weights are a copy of its
    base's with the adapter merged in (LoRA's ``W + B·A·alpha/r``, IA3's rescaling), so that an exporter traces
    no peft code; afterwards the adapted layers are put back, untouched (a Predictor goes on using them).

    Raises:
        MMFusionError: a layer peft cannot merge (a grouped convolution).
    """
    layers = _tuner_layers(model)
    try:
        for parent, attribute, layer in layers:
            twin = copy.deepcopy(layer)
            try:
                twin.merge(safe_merge=True)
            except (ValueError, NotImplementedError, RuntimeError) as exc:
                raise MMFusionError(f"cannot merge the adapter of {type(layer).__name__} '{attribute}' into its "
                                    f"weights for export: {exc}") from None
            setattr(parent, attribute, twin.get_base_layer())
        yield
    finally:
        for parent, attribute, layer in layers:
            setattr(parent, attribute, layer)
