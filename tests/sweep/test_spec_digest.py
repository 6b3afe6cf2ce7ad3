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


def test_a_folder_of_files_without_a_digest_is_not_adopted(tiny_bert: Path, tmp_path: Path) -> None:
    import pytest

    from mmfusion.errors import SpecError
    from mmfusion.sweep.runner import SPEC_DIGEST, _check_same_spec

    spec = load_spec({"model": {"encoders": {"text": {"type": "hf_text", "path": str(tiny_bert)}}, "fusion": "concat"}})
    fresh = tmp_path / "fresh"
    assert _check_same_spec(fresh, spec, "concat", 0) == spec_digest(spec)
    assert (fresh / SPEC_DIGEST).read_text().strip() == spec_digest(spec)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "weights.safetensors").write_bytes(b"")
    with pytest.raises(SpecError, match="holds files but no variant-spec.sha256: it is not a run this sweep started"):
        _check_same_spec(foreign, spec, "concat", 0)
    assert not (foreign / SPEC_DIGEST).exists()
