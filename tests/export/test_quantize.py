"""int8 quantisation: accuracy kept on a trained run, what is quantised, when it is refused or warned about."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmfusion.errors import DataError, MMFusionError
from mmfusion.export.int8_convs import ConvPlan, static_conv_candidates
from mmfusion.export.quantize import QuantizationRefused, check_something_quantised, judge, quantize_onnx
from mmfusion.prediction.predictor import Predictor

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

CENSUS = {"int8_weights": 30_000, "weights": 130_000, "fp32_weights_by_op": {"Conv": 96_000, "Gather": 7_000}}
FAST = {"batch": 32, "fp32_ms": 20.0, "int8_ms": 10.0, "speedup": 2.0}
CHECKED = {"checked": True, "rows": 400, "metric": "accuracy", "fp32": 0.99, "int8": 0.988, "drop_points": 0.2,
           "agreement": 0.995}


@pytest.fixture(scope="module")
def int8(xor_run) -> Predictor:  # type: ignore[no-untyped-def]
    """The shared run's int8 predictor (quantised from the shared fp32 export, made once)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny model's int8 is rarely faster: that warning has its own test
        return Predictor(xor_run.run_dir, backend="onnx", quantize="int8", batch_size=32)


def test_int8_keeps_accuracy_on_a_trained_run(int8: Predictor, xor_run, xor_data: Path) -> None:  # type: ignore
    export = xor_run.run_dir / "export"
    assert (export / "model.onnx").exists() and (export / "model.int8.onnx").exists()  # side by side
    table = pd.read_csv(xor_data)
    fp32 = Predictor(xor_run.run_dir, backend="onnx", batch_size=32).predict_table(xor_data)
    quantised = int8.predict_table(xor_data)
    truth = table["label"].to_numpy()
    accuracy = {"fp32": np.mean(fp32["predicted"] == truth), "int8": np.mean(quantised["predicted"] == truth)}
    assert accuracy["fp32"] >= 0.85 and accuracy["fp32"] - accuracy["int8"] <= 0.005  # at most 1 of 300 rows
    assert np.abs(fp32["p_same"] - quantised["p_same"]).max() < 0.1  # close, and not the same file
    meta = json.loads((export / "model.int8.onnx.json").read_text())
    assert meta["file"] == "model.int8.onnx" and meta["labels"] == int8.labels
    q = meta["quantization"]
    assert q["type"] == "int8" and q["source"] == "model.onnx"
    assert q["weights"]["int8"] > 0 and 0 < q["weights"]["int8_share"] < 1
    assert q["weights"]["operators"]["MatMulInteger"] > 0 and "ConvInteger" not in q["weights"]["operators"]
    # convolutions: static int8 (calibrated on training rows), checked on the validation rows
    convs = q["convolutions"]
    assert q["operators"] == ["Conv", "MatMul", "Gemm"] and q["method"].startswith("static int8 convolutions")
    assert convs["convolutions"] == 17 and convs["int8"] == 17 - convs["fp32_first"] > 0
    assert 0 < convs["calibration_rows"] <= 256 and convs["tried"][-1]["drop_points"] <= 0.5
    assert q["weights"]["operators"]["DequantizeLinear"] > 0 and "Conv" not in q["weights"]["fp32_by_operator"]
    assert q["speed"]["fp32_ms"] > 0 and q["speed"]["int8_ms"] > 0
    check = q["validation"]
    assert check["checked"] and check["rows"] == 60 and check["drop_points"] <= 0.5 and check["agreement"] >= 0.95


def _fp32_convs(path: Path) -> int:
    """Conv nodes whose weight is a plain fp32 initializer (an int8 one comes through a DequantizeLinear)."""
    import onnx

    model = onnx.load(str(path))
    floats = {t.name for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    return sum(1 for n in model.graph.node if n.op_type == "Conv" and n.input[1] in floats)


def test_the_first_convolutions_stay_fp32_until_the_check_passes(int8: Predictor, tmp_path: Path) -> None:
    from mmfusion.export.int8_convs import calibration_feeds

    source = int8.run.paths.root / "export" / "model.onnx"
    names = int8.onnx.input_names  # type: ignore[union-attr]
    feeds, rows, reason = calibration_feeds(int8.run, names, rows=64)
    assert reason is None and rows == 64 and feeds is not None
    assert sum(len(f[names[0]]) for f in feeds()) == 64 and len(list(feeds())) == 2  # decoded anew each pass
    seen: list[int] = []

    def judge(path: Path) -> dict[str, float]:  # stands in for the validation check: passes from 4 fp32 convs
        seen.append(_fp32_convs(path))
        return {"drop_points": 0.0 if seen[-1] >= 4 else 3.0, "agreement": 1.0}

    out, plan = tmp_path / "m.int8.onnx", ConvPlan(convolutions=0)
    accepted = static_conv_candidates(source, feeds, finish=quantize_onnx, judge=judge,
                                      accept=lambda r: r["drop_points"] <= 0.5, out=out, plan=plan)
    assert accepted and seen == [0, 1, 2, 4]  # tried in order, kept the first that passed
    assert [t["fp32_first"] for t in plan.tried] == [0, 1, 2, 4] and len(plan.fp32_convs) == 4
    assert _fp32_convs(out) == 4 and plan.to_json()["int8"] == 17 - 4
    plan = ConvPlan(convolutions=0)
    assert not static_conv_candidates(source, feeds, finish=quantize_onnx, judge=lambda p: {"drop_points": 9.0},
                                      accept=lambda r: r["drop_points"] <= 0.5, out=out, plan=plan)
    assert [t["fp32_first"] for t in plan.tried] == [0, 1, 2, 4, 8, 16] and not plan.chosen
    assert plan.to_json()["int8"] == 0 and "every candidate" in plan.reason


def test_a_failing_static_step_leaves_the_matmul_only_model(int8: Predictor, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from mmfusion.export import int8_convs, quantize

    def broken(*args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("unsupported operator Foo\nmore detail")

    monkeypatch.setattr(int8_convs, "quantize_convs", broken)
    source = int8.run.paths.root / "export" / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = quantize.quantize_run(int8.run, source, tmp_path / "m.int8.onnx")
    convs = result.convolutions
    assert convs["int8"] == 0 and convs["reason"] == (
        "convolutions stay fp32: static quantisation failed (RuntimeError: unsupported operator Foo)")
    meta = json.loads(result.metadata_path.read_text())["quantization"]
    assert meta["method"] == "onnxruntime dynamic quantisation" and meta["operators"] == ["MatMul", "Gemm"]
    assert _fp32_convs(result.path) == 17 and result.weights["operators"]["MatMulInteger"] > 0


def test_judge_warns_where_int8_does_not_pay_and_refuses_a_loss() -> None:
    assert judge(CENSUS, FAST, CHECKED, 0.5) == []
    slow = {**FAST, "int8_ms": 21.0, "speedup": 0.95}
    (note,) = judge(CENSUS, slow, CHECKED, 0.5)
    assert "0.95× as fast as fp32" in note and "23% of the weights are int8" in note and "Conv 96,000" in note
    (note,) = judge(CENSUS, FAST, {"checked": False, "reason": "the run's data has no validation split"}, 0.5)
    assert note == "int8 accuracy not checked: the run's data has no validation split"
    lossy = {**CHECKED, "int8": 0.97, "drop_points": 2.0, "agreement": 0.98}
    with pytest.raises(QuantizationRefused, match=r"from 0\.9900 to 0\.9700 \(2\.00 points, more than the 0\.5 "
                                                  r"allowed.*--max-accuracy-drop"):
        judge(CENSUS, FAST, lossy, 0.5)
    assert judge(CENSUS, FAST, lossy, 2.5) == []
    with pytest.raises(QuantizationRefused, match=r"no MatMul/Gemm with fixed weights.*Conv 96,000"):
        check_something_quantised({**CENSUS, "int8_weights": 0}, "model.onnx")


def test_quantize_options_are_checked_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="use backend='onnx'"):
        Predictor(tmp_path / "no-run", quantize="int8")
    with pytest.raises(DataError, match="unknown quantize 'int4'"):
        Predictor(tmp_path / "no-run", backend="onnx", quantize="int4")


def test_a_negative_accuracy_allowance_is_refused_before_any_file(int8: Predictor, tmp_path: Path) -> None:
    from mmfusion.export.quantize import quantize_run

    source = int8.run.paths.root / "export" / "model.onnx"
    with pytest.raises(MMFusionError, match="cannot be negative"):
        quantize_run(int8.run, source, tmp_path / "m.int8.onnx", max_accuracy_drop=-1)
    assert not list(tmp_path.iterdir())


def test_predict_command_with_int8(int8: Predictor, xor_run) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from mmfusion.cli import cli

    args = ["predict", str(xor_run.run_dir), "--text", "alpha shape", "--backend", "onnx", "--quantize", "int8"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout[result.stdout.index("{"):])["probabilities"]) == set(int8.labels)
    torch_backend = CliRunner().invoke(cli, args[:4] + ["--quantize", "int8"])
    assert torch_backend.exit_code != 0 and "use backend='onnx' (--backend onnx)" in torch_backend.output
    wrong_format = CliRunner().invoke(cli, ["export", str(xor_run.run_dir), "--format", "torchscript",
                                            "--quantize", "int8"])
    assert wrong_format.exit_code != 0 and "use it with --format onnx" in wrong_format.output


def test_export_command_reports_the_int8_convolutions(xor_run, tmp_path: Path) -> None:  # type: ignore
    from click.testing import CliRunner

    from mmfusion.cli import cli

    out = tmp_path / "m.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = CliRunner().invoke(cli, ["export", str(xor_run.run_dir), "--out", str(out), "--quantize", "int8"])
    assert result.exit_code == 0, result.output
    # how many of the first convolutions stay fp32 depends on the 60 validation rows' check (here: none)
    assert re.search(r"convolutions: 1?\d of 17 in int8 \((the first \d+ kept fp32, )?calibrated on 180 training "
                     r"rows\)", result.output), result.output
    assert "validation (60 rows)" in result.output and (tmp_path / "m.int8.onnx").exists()
