"""Predictor: one sample or a table, batched; probabilities; clear errors for bad inputs."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mmfusion.errors import DataError
from mmfusion.prediction.predictor import Predictor
from mmfusion.run.load import load_run


@pytest.fixture(scope="module")
def predictor(xor_run) -> Predictor:  # type: ignore[no-untyped-def]
    return Predictor(xor_run.run_dir, batch_size=7)


def test_single_samples_and_batches_agree(predictor: Predictor, xor_data: Path) -> None:
    table = pd.read_csv(xor_data).head(20)
    samples = [{"image": str(xor_data.parent / p), "text": t} for p, t in zip(table["image"], table["text"])]
    batched = predictor.predict_proba(samples)
    assert batched.shape == (20, 2) and np.allclose(batched.sum(1), 1, atol=1e-5)
    one = predictor.predict_one(image=Image.open(xor_data.parent / table["image"][3]), text=table["text"][3])
    assert np.allclose([one.probabilities[k] for k in predictor.labels], batched[3], atol=1e-4)
    predicted = [predictor.labels[i] for i in batched.argmax(1)]
    assert np.mean(np.array(predicted) == table["label"].to_numpy()) >= 0.85
    assert one.top[0] == (one.label, one.probability) and len(one.top) == 2


def test_absent_modality_and_table_prediction(predictor: Predictor, xor_data: Path) -> None:
    only_text = predictor.predict([{"text": "a shape alpha"}])[0]
    assert abs(sum(only_text.probabilities.values()) - 1) < 1e-5
    out = predictor.predict_table(xor_data)
    assert len(out) == 300 and {"predicted", "probability", "p_same", "p_different"} <= set(out.columns)
    assert np.allclose(out["p_same"] + out["p_different"], 1, atol=1e-5)


def test_bad_inputs_are_clear(predictor: Predictor, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"input sample 1 \(image\): image file .*missing.png does not exist"):
        predictor.predict([{"text": "fine"}, {"image": str(tmp_path / "missing.png"), "text": "x"}])
    # from a table: the file, its line and the trained column
    pd.DataFrame({"image": ["missing.png"], "text": ["x"]}).to_csv(tmp_path / "rows.csv", index=False)
    with pytest.raises(DataError, match=r"rows.csv line 2 \(column 'image'\): image file"):
        predictor.predict_table(tmp_path / "rows.csv")
    with pytest.raises(DataError, match="unknown input"):
        predictor.predict([{"audio": "x.wav"}])
    with pytest.raises(DataError, match="no input given"):
        predictor.predict([{}])
    pd.DataFrame({"picture": ["a.png"], "text": ["x"]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match="lacks the column"):
        predictor.predict_table(tmp_path / "t.csv")


def test_table_top_k_columns(predictor: Predictor, xor_data: Path) -> None:
    out = predictor.predict_table(pd.read_csv(xor_data).head(5), root=xor_data.parent, top_k=2)
    assert list(out["top1"]) == list(out["predicted"])
    assert np.allclose(out["top1_probability"] + out["top2_probability"], 1, atol=1e-5)


def test_onnx_backend_matches_torch(xor_run, xor_data: Path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    onnx = Predictor(xor_run.run_dir, backend="onnx", batch_size=7)
    assert (xor_run.run_dir / "export" / "model.onnx").exists()  # exported on first use, reused after
    table = pd.read_csv(xor_data).head(20)
    samples = [{"image": str(xor_data.parent / p), "text": t} for p, t in zip(table["image"], table["text"])]
    samples[3]["text"] = None  # an absent modality
    run = load_run(xor_run.run_dir)  # ONNX computes in fp32; precision "auto" is bf16 on CPUs with AMX/AVX512-BF16
    run.spec = run.spec.model_copy(update={"train": run.spec.train.model_copy(update={"precision": "fp32"})})
    fp32 = Predictor(run, device="cpu", batch_size=7)
    assert np.allclose(onnx.predict_proba(samples), fp32.predict_proba(samples), atol=1e-4)
    with pytest.raises(DataError, match="unknown backend"):
        Predictor(xor_run.run_dir, backend="tensorrt")


def test_a_run_trained_with_fp16_on_a_gpu_predicts_on_the_cpu(predictor: Predictor, xor_run, xor_data: Path,  # type: ignore
                                                            tmp_path: Path) -> None:
    import shutil

    import yaml

    copy = tmp_path / "fp16-run"
    shutil.copytree(xor_run.run_dir, copy)
    spec = yaml.safe_load((copy / "spec.yaml").read_text())
    spec.setdefault("train", {})["precision"] = "fp16"
    (copy / "spec.yaml").write_text(yaml.safe_dump(spec))
    table = pd.read_csv(xor_data).head(6)
    samples = [{"image": str(xor_data.parent / i), "text": t} for i, t in zip(table["image"], table["text"])]
    moved = Predictor(copy, device="cpu")
    assert moved.engine.precision.name != "fp16"
    assert np.allclose(moved.predict_proba(samples), predictor.predict_proba(samples), atol=1e-4)


def test_a_run_loads_without_the_weights_files_it_was_trained_from(predictor: Predictor, xor_run,  # type: ignore
                                                                   xor_data: Path, tmp_path: Path) -> None:
    """An encoder the run saved in full (not frozen pretrained weights, which it refers to) needs none of its
    original weights files or model caches: a run copied without them still loads and predicts the same."""
    import shutil

    import yaml

    copy = tmp_path / "copied-run"
    shutil.copytree(xor_run.run_dir, copy)
    spec = yaml.safe_load((copy / "spec.yaml").read_text())
    spec["model"]["encoders"]["image"].update(weights=str(tmp_path / "gone" / "imagenet.pth"), pretrained=True)
    (copy / "spec.yaml").write_text(yaml.safe_dump(spec))
    table = pd.read_csv(xor_data).head(6)
    samples = [{"image": str(xor_data.parent / i), "text": t} for i, t in zip(table["image"], table["text"])]
    moved = Predictor(copy, device="cpu")
    assert np.allclose(moved.predict_proba(samples), predictor.predict_proba(samples), atol=1e-5)


# A corrupt model.onnx itself is in the CLI fault catalogue (onnx-export-garbage-is-rebuilt); each case re-exports.
@pytest.mark.parametrize("damage", ["garbage JSON", "JSON without inputs"])
def test_a_damaged_onnx_export_is_exported_again(damage: str, xor_run, xor_data: Path, tmp_path: Path  # type: ignore
                                                 ) -> None:
    """RUN/export/model.onnx is derived from the weights: damaged, it is remade with a warning naming it."""
    import shutil

    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    intact = Predictor(xor_run.run_dir, backend="onnx")  # the shared run's export, made once
    copy = Path(shutil.copytree(xor_run.run_dir, tmp_path / "run"))  # keeps modification times: still fresh
    meta = copy / "export" / "model.onnx.json"
    if damage == "garbage JSON":
        meta.write_bytes(b'{"inputs": [')
        culprit = r"export/model\.onnx\.json is not valid JSON"
    else:
        meta.write_text('{"labels": ["different", "same"]}')
        culprit = r"export/model\.onnx\.json does not list the model's inputs"
    with pytest.warns(UserWarning, match=culprit + r".*; exporting it again from weights\.safetensors"):
        onnx = Predictor(copy, backend="onnx")
    samples = [{"image": str(xor_data.parent / "images" / "00000.png"), "text": "a shape alpha"}, {"text": "beta"}]
    assert np.allclose(onnx.predict_proba(samples), intact.predict_proba(samples), atol=1e-6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Predictor(copy, backend="onnx")  # healed: used as it is now
    assert not [w for w in caught if "model.onnx" in str(w.message)]


def test_an_image_struct_from_hugging_face_is_one_value(xor_run, xor_data: Path) -> None:  # type: ignore
    """``{"bytes": ..., "path": ...}`` (how Hugging Face stores images) is an image, not a row of columns."""
    from mmfusion.prediction.predictor import Predictor

    image = xor_data.parent / "images" / "00000.png"
    predictor = Predictor(xor_run.run_dir)
    from_struct = predictor.predict([{"image": {"bytes": image.read_bytes(), "path": None}, "text": "alpha"}])[0]
    from_path = predictor.predict([{"image": str(image), "text": "alpha"}])[0]
    assert from_struct.probabilities == pytest.approx(from_path.probabilities)


@pytest.mark.parametrize("damage", ["garbage model", "fp32 JSON", "older than the weights"])
def test_a_damaged_or_stale_int8_model_is_quantised_again(damage: str, xor_run, xor_data: Path,  # type: ignore
                                                           tmp_path: Path) -> None:
    """RUN/export/model.int8.onnx heals like model.onnx: remade from it (not exported again) when damaged or stale."""
    import os
    import re
    import shutil

    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # whether int8 pays on the tiny model is not the point here
        intact = Predictor(xor_run.run_dir, backend="onnx", quantize="int8")  # the shared run's, made once
    copy = Path(shutil.copytree(xor_run.run_dir, tmp_path / "run"))  # keeps modification times: still fresh
    export = copy / "export"
    fp32_made = (export / "model.onnx").stat().st_mtime_ns
    if damage == "garbage model":
        (export / "model.int8.onnx").write_bytes(b"garbage")
        culprit = r"export/model\.int8\.onnx is corrupt or truncated.*; quantising it again from model\.onnx"
    elif damage == "fp32 JSON":
        shutil.copy(export / "model.onnx.json", export / "model.int8.onnx.json")
        culprit = r"model\.int8\.onnx\.json does not describe an int8 model; quantising it again"
    else:
        later = (copy / "weights.safetensors").stat().st_mtime + 10
        os.utime(copy / "weights.safetensors", (later, later))
        os.utime(export / "model.onnx", (later, later))  # the fp32 export is current: only int8 is remade
        fp32_made = (export / "model.onnx").stat().st_mtime_ns
        culprit = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        healed = Predictor(copy, backend="onnx", quantize="int8")
    messages = [str(w.message) for w in caught]
    if culprit:
        assert any(re.search(culprit, m) for m in messages), messages
    assert not any("exporting it again" in m for m in messages)
    assert (export / "model.onnx").stat().st_mtime_ns == fp32_made  # quantised from the fp32 file as it was
    assert healed.onnx.info["quantization"]["type"] == "int8"  # type: ignore[union-attr]
    samples = [{"image": str(xor_data.parent / "images" / "00000.png"), "text": "a shape alpha"}, {"text": "beta"}]
    assert np.allclose(healed.predict_proba(samples), intact.predict_proba(samples), atol=1e-6)


def test_a_table_read_in_chunks_gives_the_same_predictions_as_one(predictor: Predictor, xor_data: Path,
                                                                    tmp_path: Path) -> None:
    table = pd.read_csv(xor_data).head(40)
    path = tmp_path / "rows.csv"
    table.to_csv(path, index=False)
    whole = predictor.predict_table(path, root=xor_data.parent)
    chunks = list(predictor.iter_predict_table(path, root=xor_data.parent, chunk_rows=16))
    assert [len(c) for c in chunks] == [16, 16, 8]
    joined = pd.concat(chunks)
    scores = ["probability", "top1_probability", "top2_probability", "p_same", "p_different"]
    pd.testing.assert_frame_equal(joined.drop(columns=scores), whole.drop(columns=scores))
    assert np.allclose(joined[scores].to_numpy(), whole[scores].to_numpy(), atol=1e-5)  # batches differ in make-up
    frame = list(predictor.iter_predict_table(table, root=xor_data.parent, chunk_rows=16))  # a DataFrame, sliced
    assert [len(c) for c in frame] == [16, 16, 8]
    assert pd.concat(frame)["predicted"].tolist() == whole["predicted"].tolist()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_errors_in_a_later_chunk_name_the_line_or_row_of_the_file(predictor: Predictor, xor_data: Path,
                                                                  tmp_path: Path, suffix: str) -> None:
    table = pd.read_csv(xor_data).head(12)
    table.loc[9, "image"] = "missing.png"
    path = tmp_path / f"rows{suffix}"
    table.to_csv(path, index=False) if suffix == ".csv" else table.to_parquet(path)
    where = "line 11" if suffix == ".csv" else "row 9"  # the header is line 1; Parquet rows count from 0
    with pytest.raises(DataError, match=rf"rows\{suffix} {where} \(column 'image'\): image file \S*missing\.png"):
        list(predictor.iter_predict_table(path, root=xor_data.parent, chunk_rows=4))
