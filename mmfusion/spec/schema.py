"""JSON schema of the spec, listing every registered component's config (for editor autocompletion)."""

from __future__ import annotations

from typing import Any

from ..registry import Registry, get_registry
from .components import PENDING_REF, SCHEMA_STATE
from .spec import Spec


def spec_json_schema(registry: Registry | None = None) -> dict[str, Any]:
    """The spec's JSON schema; each component slot is a ``oneOf`` over the registered configs."""
    registry = registry or get_registry()
    configs: dict[str, type] = {}
    token = SCHEMA_STATE.set((registry, configs))
    try:
        schema = Spec.model_json_schema(ref_template="#/$defs/{model}")
        defs: dict[str, Any] = schema.setdefault("$defs", {})
        done: set[str] = set()
        while set(configs) - done:  # configs may themselves hold component slots (e.g. `inner`)
            for key in sorted(set(configs) - done):
                done.add(key)
                sub = configs[key].model_json_schema(ref_template="#/$defs/{model}")
                defs.update(sub.pop("$defs", {}))
                name = key.split(".", 1)[1]
                # 'distribution:name' picks one of two plugins providing the same name
                sub.get("properties", {})["type"] = {"type": "string", "pattern": rf"^([A-Za-z0-9_.-]+:)?{name}$",
                                                     "default": name, "description": "the component name"}
                defs[key] = sub
    finally:
        SCHEMA_STATE.reset(token)
    schema["title"] = "mmfusion spec"
    return _resolve_pending(schema)


def _resolve_pending(node: Any) -> Any:
    if isinstance(node, dict):
        if set(node) == {PENDING_REF}:
            return {"$ref": f"#/$defs/{node[PENDING_REF]}"}
        return {k: _resolve_pending(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_pending(v) for v in node]
    return node
