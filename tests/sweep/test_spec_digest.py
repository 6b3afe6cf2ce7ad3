"""A sweep knows its runs by the digest of their variant's spec: the spec's JSON form, keys sorted."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from mmfusion.spec import load_spec
from mmfusion.sweep.runner import spec_digest


def test_the_digest_is_the_specs_and_changes_with_any_setting(tiny_bert: Path) -> None:
    base = {"model": {"encoders": {"text": {"type": "hf_text", "path": str(tiny_bert)}}, "fusion": "concat"}}
    spec = load_spec(base)
    expected = hashlib.sha256(json.dumps(spec.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    assert spec_digest(spec) == expected
    assert spec_digest(load_spec({**base, "train": {"loss": "focal"}})) != expected
    assert spec_digest(load_spec({**base, "train": {"modality_dropout": {"rate": 0.3, "keep_full": True}}})) \
        != spec_digest(load_spec({**base, "train": {"modality_dropout": 0.3}}))
