"""Spec fields that hold a component config, resolved by ``type`` through the plugin registry.

``EncoderSpec``, ``FusionSpec``, ... are annotated types usable in any pydantic model, including a plugin's own
config (a fusion wrapping another declares ``inner: FusionSpec``). The config class is looked up when the spec is
validated, so every installed plugin's component validates like a built-in.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import SerializeAsAny, ValidationError, ValidationInfo, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ..errors import AmbiguousComponentError, UnknownComponentError, did_you_mean
from ..interfaces.config import ComponentConfig
from ..interfaces.kinds import KINDS
from ..registry import Registry, get_registry, is_always_on

#: Set while generating a JSON schema: the registry whose components the schema lists, and the config classes
#: met so far, keyed by "kind.name".
SCHEMA_STATE: contextvars.ContextVar[tuple[Registry, dict[str, type]] | None] = contextvars.ContextVar(
    "schema_state", default=None)
#: Placeholder key for a reference to a component config's schema (see spec_json_schema).
PENDING_REF = "x-mmfusion-component"


def registry_from(info: ValidationInfo | None) -> Registry:
    """The registry of the validation context, which ``load_spec`` sets and nested configs inherit; only a
    validation started without one (``MissingModalityConfig()`` in Python) uses the process-wide registry."""
    context = info.context if info is not None else None
    if isinstance(context, dict) and context.get("registry") is not None:
        return context["registry"]
    return get_registry()


def error_details(loc: tuple[str | int, ...], kind: str, message: str, value: Any = None) -> InitErrorDetails:
    """One error of a ValidationError raised by hand (``message`` is taken literally, braces and all)."""
    return {"type": PydanticCustomError(kind, message.replace("{", "{{").replace("}", "}}")), "loc": loc,
            "input": value}


@dataclass(frozen=True)
class ComponentSlot:
    """Annotation metadata: this field holds a config of a component of ``kind``."""

    kind: str

    def validate(self, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        if isinstance(value, ComponentConfig):
            return value
        if isinstance(value, str):  # shorthand: `head: linear`
            value = {"type": value}
        if not isinstance(value, dict):
            raise PydanticCustomError(
                "component_mapping", "expected a mapping with a 'type' key naming {kind}",
                {"kind": f"{'an' if self.kind[0] in 'aeiou' else 'a'} {self.kind}"}
            )
        registry = registry_from(info)
        type_name = value.get("type")

        def bad_type(kind: str, message: str) -> ValidationError:
            return ValidationError.from_exception_data(self.kind, [error_details(("type",), kind, message, type_name)])

        if not isinstance(type_name, str):
            names = ", ".join(registry.names(self.kind))
            raise bad_type("missing_type", f"missing 'type': which {self.kind}? available: {names}")
        try:
            entry = registry.resolve(self.kind, type_name)
        except (UnknownComponentError, AmbiguousComponentError) as exc:
            raise bad_type("unknown_component", str(exc)) from None
        if is_always_on(self.kind, entry.cls):
            raise bad_type("always_on", f"{self.kind} '{entry.name}' is built in and runs in every fit: remove it "
                           "from the list")

        config_cls = entry.cls.Config
        fields = config_cls.model_fields
        allowed = ", ".join(sorted(k for k in fields if k != "type"))
        errors: list[InitErrorDetails] = [error_details(
            (key,), "unknown_parameter", f"unknown parameter '{key}' for {self.kind} '{entry.name}'"
            f"{did_you_mean(key, fields)}\n  parameters of {entry.name}: {allowed}", item)
            for key, item in value.items() if key not in fields]
        clean = {**{k: v for k, v in value.items() if k in fields}, "type": entry.name}
        try:
            config = config_cls.model_validate(clean, context=info.context)
        except ValidationError as exc:  # raised again with the unknown parameters found above
            errors += [error_details(tuple(e["loc"]), e["type"], e["msg"], e.get("input"))
                       for e in exc.errors(include_url=False)]
            config = None
        if errors:
            raise ValidationError.from_exception_data(self.kind, errors)
        if ":" in type_name:
            config._qualified_type = entry.qualified_name
        return config

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        state = SCHEMA_STATE.get()
        if state is None:
            return handler(core_schema)
        registry, configs = state
        entries = [e for e in registry.entries(self.kind) if not is_always_on(self.kind, e.cls)]
        for entry in entries:
            configs.setdefault(f"{self.kind}.{entry.name}", entry.cls.Config)
        # placeholders, resolved into "$ref"s by spec_json_schema after pydantic has tidied its own definitions, and
        # the shorthand `head: linear`, which names a component whose options all keep their defaults
        options = [{PENDING_REF: f"{self.kind}.{e.name}"} for e in entries]
        options.append({"type": "string", "enum": sorted({e.name for e in entries})})
        article = "An" if self.kind[0] in "aeiou" else "A"
        return {"oneOf": options, "description": f"{article} {self.kind}, chosen by its 'type'."}


def component_field(kind: str) -> Any:
    """The spec field of one ``kind`` component: its config base, validated against the registry's classes."""
    slot = ComponentSlot(kind)
    return Annotated[SerializeAsAny[KINDS[kind].config_class()], WrapValidator(slot.validate), slot]


EncoderSpec = component_field("encoder")
FusionSpec = component_field("fusion")
HeadSpec = component_field("head")
DatasetSpec = component_field("dataset")
LossSpec = component_field("loss")
LoggerSpec = component_field("logger")
CallbackSpec = component_field("callback")
