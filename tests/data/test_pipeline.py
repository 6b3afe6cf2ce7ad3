"""The data pipeline keeps per row only what batches need: store indices and labels for cached inputs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mmfusion.data.labels import LabelSet
from mmfusion.data.pipeline import build_pipeline
from mmfusion.data.tables import load_prepared_tables
from mmfusion.model.builder import build_model
from mmfusion.spec import load_spec

from ..conftest import xor_spec


def test_cached_inputs_keep_store_indices_not_values(xor_data: Path, tiny_bert: Path, feature_cache: Path,
                                                     tmp_path: Path) -> None:
    table = pd.read_csv(xor_data).head(24)
    table.loc[[3, 7], "text"] = ""
    table.to_csv(tmp_path / "rows.csv", index=False)
    (tmp_path / "images").symlink_to(xor_data.parent / "images")
    path = xor_spec(tmp_path, tmp_path / "rows.csv", tiny_bert, feature_cache)
    path.write_text(path.read_text().replace("validation: 0.2, test: 0.2", "validation: 0.0, test: 0.0"))
    spec = load_spec(path)
    prepared = load_prepared_tables(spec.data)
    labels = LabelSet.from_training_data(prepared.tables["train"], prepared.label_column, given=None,
                                         source_order=None, where="train")
    pipeline = build_pipeline(build_model(spec, len(labels)), spec.data, prepared, labels, cache_dir=feature_cache)
    train = pipeline.tables["train"]
    assert pipeline.live == [] and train.references == {}  # both inputs are read from the cache
    assert train.present("text").tolist() == [i not in (3, 7) for i in range(24)] and train.present("image").all()
    batch = next(iter(pipeline.batches("train", 24)))
    assert batch.present["text"].tolist() == train.present("text").tolist() and batch.labels.shape == (24,)
    assert batch.features["image"].pooled.shape[0] == 24 and batch.features["text"].tokens is None  # concat: pooled
