"""A third-party plugin adds a whole modality: image + text + tabular beats every pair.

Uses the reference plugin plugins/mmfusion-tabular, installed like any pip package (CI installs it)
and discovered through its entry point.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmfusion.api import fit
from mmfusion.prediction.predictor import Predictor
from mmfusion.registry import get_registry

tabular = pytest.importorskip("mmfusion_tabular")

ENCODERS = {
    "image": {"type": "timm", "model_name": "test_efficientnet", "image_size": 32, "freeze": True},
    "text": {"type": "hf_text", "freeze": True, "pooling": "mean"},
    "table": {"type": "tabular", "numeric": ["size", "weight"], "categorical": ["shop"], "dim": 16},
}
COLUMNS = {"image": "image", "text": "text", "table": ["size", "weight", "shop"]}


@pytest.fixture(scope="module")
def table_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mmfusion_tabular.data import make_tabular_dataset

    return make_tabular_dataset(tmp_path_factory.mktemp("tabular"), n=480)


def _fit(inputs: list[str], csv: Path, bert: Path, cache: Path, folder: Path):  # type: ignore[no-untyped-def]
    encoders = {m: dict(ENCODERS[m]) for m in inputs}
    if "text" in encoders:
        encoders["text"]["path"] = str(bert)
    spec = {
        "model": {"encoders": encoders, "fusion": {"type": "concat", "projection_dim": 32},
                  "head": {"type": "mlp", "hidden_dims": [64], "dropout": 0.0}},
        "data": {"source": {"type": "csv", "train": str(csv)}, "columns": {m: COLUMNS[m] for m in inputs},
                 "split": {"validation": 0.15, "test": 0.25}},
        "train": {"epochs": 15, "batch_size": 32, "lr": 0.01, "warmup": 0.0, "cache_dir": str(cache)},
    }
    return fit(spec, out=folder / "-".join(inputs))


def test_plugin_is_discovered_through_its_entry_point() -> None:
    registry = get_registry()
    assert registry.resolve("encoder", "tabular").plugin.distribution == "mmfusion-tabular"
    assert registry.resolve("modality", "tabular").plugin.distribution == "mmfusion-tabular"


@pytest.mark.slow
def test_three_modalities_beat_every_pair(table_data: Path, tiny_bert: Path, feature_cache: Path,
                                          tmp_path: Path) -> None:
    full = _fit(["image", "text", "table"], table_data, tiny_bert, feature_cache, tmp_path)
    assert full.test_metrics["accuracy"] >= 0.85
    learned = json.loads((full.run_dir / "preprocessing.json").read_text())
    assert learned["table"]["numeric"]["size"][0] == pytest.approx(20, abs=2)  # mean of 10s and 30s
    assert sorted(learned["table"]["categorical"]["shop"]) == ["east", "north", "south"]
    for pair in (["image", "text"], ["image", "table"], ["text", "table"]):
        result = _fit(pair, table_data, tiny_bert, feature_cache, tmp_path)
        assert result.test_metrics["accuracy"] < full.test_metrics["accuracy"] - 0.25, pair
    predictor = Predictor(full.run_dir)  # the learned preprocessing comes back with the run
    table = predictor.predict_table(table_data).head(60)
    assert (table["predicted"] == table["label"]).mean() >= 0.85
    unseen = predictor.predict([{"table": {"size": "31", "weight": None, "shop": "a brand new shop"}}])[0]
    assert unseen.label.endswith("large")
