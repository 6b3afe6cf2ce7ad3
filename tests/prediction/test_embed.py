"""Predictor.embed: the fused and pooled vectors are the model's own, absent inputs are flagged, chunks agree."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from mmfusion.errors import DataError
from mmfusion.model.featurizer import make_batch
from mmfusion.prediction.predictor import Predictor
from mmfusion.run.load import load_run


@pytest.fixture(scope="module")
def predictor(xor_run) -> Predictor:  # type: ignore[no-untyped-def]
    """An fp32 predictor ("auto" is bf16 on CPUs with AMX/AVX512-BF16), so vectors compare tightly."""
    run = load_run(xor_run.run_dir)
    run.spec = run.spec.model_copy(update={"train": run.spec.train.model_copy(update={"precision": "fp32"})})
    return Predictor(run, device="cpu", batch_size=7)


def _table(xor_data: Path, rows: int = 20) -> pd.DataFrame:
    """The first rows, with the text missing from every fourth row and the image from row 2."""
    table = pd.read_csv(xor_data).head(rows)
    table.loc[::4, "text"] = None
    table.loc[2, "image"] = None
    return table


def test_vectors_are_the_models_own_and_the_head_gives_the_predictions(predictor: Predictor, xor_data: Path) -> None:
    table = _table(xor_data)
    samples = [{"image": None if pd.isna(p) else str(xor_data.parent / p), "text": None if pd.isna(t) else t}
               for p, t in zip(table["image"], table["text"])]
    found = predictor.embed(samples)
    model = predictor.model
    assert found.fused.shape == (20, model.fusion.output_dim) and found.rows.tolist() == list(range(20))
    raw = [{"image": None if s["image"] is None else Image.open(s["image"]).convert("RGB"), "text": s["text"]}
           for s in samples]
    with torch.inference_mode():
        batch = make_batch(model, raw)
        encoded = model.encode(batch)
        direct = model.fusion(encoded, batch.present)
        assert np.allclose(found.fused, direct.numpy(), atol=1e-5)
        for m in ("image", "text"):
            present = batch.present[m].numpy()
            assert found.present[m].tolist() == present.tolist()
            assert np.allclose(found.pooled[m][present], encoded[m].pooled[batch.present[m]].numpy(), atol=1e-5)
            assert np.isnan(found.pooled[m][~present]).all()  # never the filler the encoder saw
        logits = model.head(torch.from_numpy(found.fused))
    assert np.allclose(predictor.engine.scores(logits).numpy(), predictor.predict_proba(samples), atol=1e-5)


def test_rows_missing_an_input_are_flagged_absent(predictor: Predictor, xor_data: Path) -> None:
    found = predictor.embed(_table(xor_data), root=xor_data.parent, what="text")
    assert found.fused is None and list(found.pooled) == ["text"]
    assert found.present["text"].tolist() == [i % 4 != 0 for i in range(20)]
    assert found.present["image"].tolist() == [i != 2 for i in range(20)]
    assert np.isnan(found.pooled["text"][::4]).all() and not np.isnan(found.pooled["text"][1::4]).any()


def test_a_chunked_table_gives_what_one_chunk_gives(predictor: Predictor, xor_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    _table(xor_data).to_csv(path, index=False)
    whole = predictor.embed(_table(xor_data), root=xor_data.parent)
    parts = list(predictor.iter_embed_table(path, chunk_rows=6, root=xor_data.parent))
    assert [len(p) for p in parts] == [6, 6, 6, 2] and parts[1].rows.tolist() == list(range(6, 12))
    for name, array in whole.arrays().items():
        joined = np.concatenate([p.arrays()[name] for p in parts])
        assert np.allclose(joined, array, atol=1e-5, equal_nan=True), name


def test_table_files_read_back_with_shapes_and_row_ids(predictor: Predictor, xor_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    _table(xor_data).to_parquet(path)
    whole = predictor.embed(_table(xor_data), root=xor_data.parent)
    assert predictor.embed_table(path, tmp_path / "e.parquet", root=xor_data.parent, chunk_rows=8) == 20
    frame = pd.read_parquet(tmp_path / "e.parquet")
    assert frame["row"].tolist() == list(range(20))
    assert np.stack(frame["fused"].to_numpy()).shape == (20, predictor.model.fusion.output_dim)
    assert np.allclose(np.stack(frame["text"].to_numpy()), whole.pooled["text"], atol=1e-5, equal_nan=True)
    assert frame["image.present"].tolist() == whole.present["image"].tolist()
    predictor.embed_table(path, tmp_path / "fused.npy", what="fused", root=xor_data.parent, chunk_rows=8)
    assert np.allclose(np.load(tmp_path / "fused.npy"), whole.fused, atol=1e-5)
    predictor.embed_table(path, tmp_path / "e.npz", root=xor_data.parent, chunk_rows=8)
    with np.load(tmp_path / "e.npz") as arrays:
        assert arrays["row"].tolist() == list(range(20)) and arrays["image"].shape == whole.pooled["image"].shape


def test_unusable_values_are_an_error_or_absent(predictor: Predictor, xor_data: Path, tmp_path: Path) -> None:
    table = pd.read_csv(xor_data).head(5)
    table["image"] = [str(xor_data.parent / p) for p in table["image"]]
    table.loc[3, "image"] = str(tmp_path / "missing.png")
    table.to_csv(tmp_path / "rows.csv", index=False)
    with pytest.raises(DataError, match=r"rows.csv line 5 \(column 'image'\): image file .*missing.png"):
        predictor.embed_table(tmp_path / "rows.csv", tmp_path / "e.parquet")
    assert not (tmp_path / "e.parquet").exists()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = predictor.embed(table, on_bad_value="absent")
    assert found.present["image"].tolist() == [True, True, True, False, True]
    assert np.isnan(found.pooled["image"][3]).all()
    assert any("1 unusable 'image' value(s) treated as absent" in str(w.message) for w in caught)


def test_asking_for_what_cannot_be_given_is_clear(predictor: Predictor, xor_run, tmp_path: Path) -> None:  # type: ignore
    with pytest.raises(DataError, match="unknown embedding 'audio'"):
        predictor.embed([{"text": "a"}], what="fused,audio")
    pd.DataFrame({"picture": ["a.png"], "text": ["x"]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match="lacks the column"):
        predictor.embed_table(tmp_path / "t.csv", tmp_path / "e.parquet")
    with pytest.raises(DataError, match="an .npy file holds one array"):
        predictor.embed_table(tmp_path / "t.csv", tmp_path / "e.npy")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    with pytest.raises(DataError, match="embeddings come from the torch model"):
        Predictor(xor_run.run_dir, backend="onnx").embed([{"text": "a"}])
