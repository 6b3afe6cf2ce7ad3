"""Turning the base spec and a variant into the variant's spec."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ..errors import MMFusionError, SpecError
from ..registry import Registry
from ..spec.loader import load_spec, validate_spec
from ..spec.spec import Spec
from .spec import SweepSpec, VariantSpec, slug


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any], where: str) -> dict[str, Any]:
    """Set ``a.b.c: value`` paths in a nested mapping (creating mappings on the way)."""
    out = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        keys = dotted.split(".")
        node = out
        for depth, key in enumerate(keys[:-1]):
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            if not isinstance(child, dict):
                raise SpecError(f"{where}: cannot set '{dotted}': '{'.'.join(keys[:depth + 1])}' is not a mapping")
            node = child
        node[keys[-1]] = copy.deepcopy(value)
    return out


def baseline_variants(base: Spec) -> list[VariantSpec]:
    """'<input> only' for every input of the base spec (when it has more than one)."""
    if len(base.model.encoders) < 2:
        return []
    return [VariantSpec(name=f"{m} only", modalities=[m]) for m in base.model.encoders]


def variant_spec(base: Spec, variant: VariantSpec, seed: int, registry: Registry | None = None,
                 base_dir: str | Path | None = None) -> Spec:
    """The base spec with the variant's overrides, inputs and seed.

    Relative paths in the overrides resolve against ``base_dir`` (the sweep file's folder); the base spec's
    own paths are already resolved against the base spec's folder.

    Raises:
        SpecError: the overrides produce an invalid spec (the message names the variant).
    """
    raw = base.model_dump(mode="json")
    where = f"variant '{variant.name}'"
    raw = apply_overrides(raw, variant.set, where)
    if variant.modalities is not None:
        unknown = sorted(set(variant.modalities) - set(raw["model"]["encoders"]))
        if unknown:
            raise SpecError(f"{where}: modalities {', '.join(unknown)} are not inputs of the base spec "
                            f"({', '.join(raw['model']['encoders'])})")
        raw["model"]["encoders"] = {m: raw["model"]["encoders"][m] for m in variant.modalities}
        data, dropout = raw.get("data") or {}, (raw.get("train") or {}).get("modality_dropout") or {}
        # keyed by input: a single-input baseline keeps its own columns, bad-value policy and dropout rate
        for section, key in ((data, "columns"), (data, "on_bad_value"), (dropout, "rate")):
            if isinstance(section.get(key), dict):
                section[key] = {m: v for m, v in section[key].items() if m in variant.modalities}
    raw.setdefault("train", {})["seed"] = seed
    return validate_spec(raw, source_name=where, registry=registry, base_dir=base_dir)


def check_variants_build(specs: dict[str, Spec], registry: Registry | None = None) -> None:
    """Assemble every variant's model once before anything trains, so that a variant that cannot be built
    (e.g. a baseline whose fusion is conditioned on the input it lacks) fails the sweep at once, not hours in.

    Raises:
        SpecError: naming the variant and the reason.
    """
    from ..model.builder import build_model

    for name, spec in specs.items():
        try:
            build_model(spec, 2, registry=registry)
        except MMFusionError as exc:
            raise SpecError(f"variant '{name}' cannot be built: {exc}") from None


def all_variants(sweep: SweepSpec, registry: Registry | None = None) -> tuple[Spec, list[VariantSpec]]:
    base = load_spec(sweep.base, registry=registry)
    if base.data is None:
        raise SpecError(f"the base spec {sweep.base} has no data section; an ablation needs data to train on")
    baselines = baseline_variants(base) if sweep.baselines else []
    folders = {slug(b.name): b.name for b in baselines}
    for variant in sweep.variants:
        if slug(variant.name) in folders:
            raise SpecError(f"variant '{variant.name}' would share the run folder '{slug(variant.name)}' with the "
                            f"automatic baseline '{folders[slug(variant.name)]}'; rename it, or set "
                            "`baselines: false` to define the baselines yourself")
    variants = baselines + list(sweep.variants)
    if not variants:
        raise SpecError("the sweep has no variants (add `variants:` or set `baselines: true`)")
    return base, variants
