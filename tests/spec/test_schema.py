"""The JSON schema lists every registered component's config under its slot."""

from __future__ import annotations

import json

from mmfusion.spec import spec_json_schema


def test_schema_lists_components_per_slot(registry) -> None:  # type: ignore[no-untyped-def]
    schema = spec_json_schema(registry)
    json.dumps(schema)  # serialisable
    model = schema["$defs"]["ModelSpec"]["properties"]
    fusion_refs = {ref["$ref"] for ref in model["fusion"]["oneOf"] if "$ref" in ref}
    assert fusion_refs == {f"#/$defs/fusion.{name}" for name in registry.names("fusion")}
    shorthand = next(o for o in model["fusion"]["oneOf"] if o.get("type") == "string")
    assert shorthand["enum"] == registry.names("fusion")  # `fusion: concat`
    head = model["head"]  # optional: anyOf [component, null]
    assert any(o.get("type") == "null" for o in head.get("anyOf", [])) or "oneOf" in head
    encoder_refs = {ref["$ref"] for ref in model["encoders"]["additionalProperties"]["oneOf"] if "$ref" in ref}
    assert "#/$defs/encoder.timm" in encoder_refs
    attention = schema["$defs"]["fusion.attention"]
    assert attention["properties"]["type"]["pattern"] == "^([A-Za-z0-9_.-]+:)?attention$"  # `mmfusion:attention`
    assert attention["additionalProperties"] is False
    # nested component slots (missing_modality.inner) point at fusions too
    inner = schema["$defs"]["fusion.missing_modality"]["properties"]["inner"]
    assert {"$ref": "#/$defs/fusion.concat"} in inner["oneOf"]
