"""A sweep started before train.loss/loggers/callbacks/feature_dtype/threads/compile (and data.task) existed still
knows its runs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from mmfusion.spec import load_spec
from mmfusion.sweep.runner import spec_digest

#: train keys added after sweeps began recording digests (some may not exist yet in this checkout)
LATER_TRAIN_KEYS = ("loss", "loggers", "callbacks", "feature_dtype", "threads", "compile", "aux_unimodal",
                    "modulation", "modality_dropout")


def test_new_train_keys_at_their_defaults_leave_the_digest_as_before(tiny_bert: Path) -> None:
    base = {"model": {"encoders": {"text": {"type": "hf_text", "path": str(tiny_bert)}}, "fusion": "concat"}}
    spec = load_spec(base)
    before = spec.model_dump(mode="json")
    for key in LATER_TRAIN_KEYS:
        before["train"].pop(key, None)
    before["train"]["monitor"] = "val_macro_f1"  # the default before the task chose it
    assert spec_digest(spec) == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()
    focal = load_spec({**base, "train": {"loss": "focal"}})
    assert spec_digest(focal) != spec_digest(spec)
    assert spec_digest(load_spec({**base, "train": {"threads": 2}})) != spec_digest(spec)
    spelt_out = load_spec({**base, "train": {"loss": "cross_entropy", "monitor": "val_macro_f1"}})
    assert spec_digest(spelt_out) == spec_digest(spec)  # what the old defaults wrote out


def test_new_data_keys_at_their_defaults_leave_the_digest_as_before(tiny_bert: Path, tmp_path: Path) -> None:
    base = {"model": {"encoders": {"text": {"type": "hf_text", "path": str(tiny_bert)}}, "fusion": "concat"},
            "data": {"source": {"type": "csv", "train": str(tmp_path / "t.csv")}}}
    spec = load_spec(base)
    before = spec.model_dump(mode="json")
    for key in ("task", "label_sep", "positive_label"):
        del before["data"][key]
    for key in LATER_TRAIN_KEYS:
        before["train"].pop(key, None)
    before["train"]["monitor"] = "val_macro_f1"
    assert spec_digest(spec) == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()
    multilabel = load_spec({**base, "data": {**base["data"], "task": "multilabel"}})
    assert spec_digest(multilabel) != spec_digest(spec)


def test_new_options_inside_a_section_at_their_defaults_leave_the_digest_as_before(tiny_bert: Path) -> None:
    base = {"model": {"encoders": {"text": {"type": "hf_text", "path": str(tiny_bert)}}, "fusion": "concat"},
            "train": {"modality_dropout": 0.3}}
    spec = load_spec(base)
    before = spec.model_dump(mode="json")
    del before["train"]["modality_dropout"]["keep_full"]  # added after the shift sweep's first runs
    for key in LATER_TRAIN_KEYS:
        if key != "modality_dropout":  # set here, so it stays
            before["train"].pop(key, None)
    before["train"]["monitor"] = "val_macro_f1"
    assert spec_digest(spec) == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()
    kept = load_spec({**base, "train": {"modality_dropout": {"rate": 0.3, "keep_full": True}}})
    assert spec_digest(kept) != spec_digest(spec)
