"""Component slots in specs: wording of their errors, and the registry nested configs are validated with."""

from __future__ import annotations

import pytest

from mmfusion import load_spec
from mmfusion.errors import SpecError
from mmfusion.registry import load_registry


@pytest.mark.parametrize(("model", "expected"), [
    ({"encoders": {"text": 5}, "fusion": "concat"}, "model.encoders.text: expected a mapping with a 'type' key "
                                                    "naming an encoder"),
    ({"encoders": {"text": {"type": "hf_text", "path": "x"}}, "fusion": 5},
     "model.fusion: expected a mapping with a 'type' key naming a fusion"),
])
def test_a_value_that_is_no_mapping_is_named_with_the_right_article(model: dict, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec({"model": model})
    assert expected in str(info.value)


def test_nested_defaults_are_validated_with_the_given_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_global():  # type: ignore[no-untyped-def]
        raise AssertionError("the process-wide registry was used")

    registry = load_registry(autoload=False)
    monkeypatch.setattr("mmfusion.spec.components.get_registry", no_global)
    spec = load_spec({"model": {"encoders": {"text": {"type": "hf_text", "path": "x"}},
                                "fusion": {"type": "missing_modality"}}, "train": {}}, registry=registry)
    assert spec.model.fusion.inner.type == "concat"
