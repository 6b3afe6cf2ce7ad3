"""A sweep started before train.loss/loggers/callbacks existed still recognises its own runs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from mmfusion.spec import load_spec
from mmfusion.sweep.runner import spec_digest


def test_new_train_keys_at_their_defaults_leave_the_digest_as_before(tiny_bert: Path) -> None:
    base = {"model": {"encoders": {"text": {"type": "hf_text", "path": str(tiny_bert)}}, "fusion": "concat"}}
    spec = load_spec(base)
    before = spec.model_dump(mode="json")
    for key in ("loss", "loggers", "callbacks"):
        del before["train"][key]
    assert spec_digest(spec) == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()
    focal = load_spec({**base, "train": {"loss": "focal"}})
    assert spec_digest(focal) != spec_digest(spec)
