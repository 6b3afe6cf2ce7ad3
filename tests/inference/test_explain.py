"""Which input decided, on trained models with a known answer: the text alone, or both (XOR)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from mmfusion.api import fit
from mmfusion.cli import cli
from mmfusion.errors import DataError
from mmfusion.evaluation.evaluate import evaluate_run
from mmfusion.plots import prediction_figure, reliance_figure
from mmfusion.prediction.predictor import Predictor
from mmfusion.run.load import load_run
from tests.conftest import write_spec, xor_spec

pytestmark = pytest.mark.slow


def _samples(csv: Path, n: int = 12) -> list[dict[str, str]]:
    table = pd.read_csv(csv).head(n)
    return [{"image": str(csv.parent / p), "text": t} for p, t in zip(table["image"], table["text"])]


def _fp32(run_dir: Path) -> Predictor:
    """The run in fp32 (precision auto is bf16 on CPUs with it): contributions compared to 1e-4."""
    run = load_run(run_dir)
    run.spec = run.spec.model_copy(update={"train": run.spec.train.model_copy(update={"precision": "fp32"})})
    return Predictor(run, device="cpu", batch_size=5)


def test_xor_needs_both_inputs_and_the_values_add_up_to_the_logits(xor_run, xor_data: Path) -> None:  # type: ignore
    report = evaluate_run(xor_run.run_dir, out=xor_run.run_dir / "eval-explain")
    assert report.accuracy > 0.9
    share = report.reliance["share"]
    assert report.reliance["exact"] and set(share) == {"image", "text"}
    assert share["image"] > 0.25 and share["text"] > 0.25, share  # neither decides alone
    assert sum(share.values()) == pytest.approx(1.0, abs=1e-3)
    assert [c["class"] for c in report.reliance["per_class"]] == report.labels
    assert (report.out_dir / "reliance.png").exists() and "Which input decided" in report.to_markdown()

    predictor = _fp32(xor_run.run_dir)
    samples = _samples(xor_data)
    samples[2]["text"] = None  # a row without its text: the text contributes nothing there
    explained = predictor.predict(samples, explain=True)
    logits = torch.from_numpy(predictor._predictions(samples).logits)
    centred = (logits - logits.mean(dim=1, keepdim=True)).numpy()
    for i, p in enumerate(explained):
        e = p.explanation
        column = predictor.labels.index(p.label)
        assert e["label"] == p.label and e["exact"]
        # efficiency: the all-absent baseline plus every input's value is the model's own (centred) logit
        assert e["baseline"] + sum(e["contributions"].values()) == pytest.approx(e["value"], abs=1e-9)
        assert e["value"] == pytest.approx(float(centred[i, column]), abs=1e-4)
    assert explained[2].explanation["contributions"]["text"] == 0.0
    assert "explanation" in explained[0].as_dict()
    assert predictor.predict(samples[:1])[0].explanation is None  # only when asked

    table = predictor.predict_table(pd.read_csv(xor_data).head(6), root=xor_data.parent, explain=True)
    total = table["contribution_baseline"] + table["contribution_image"] + table["contribution_text"]
    logits = torch.from_numpy(predictor._predictions(_samples(xor_data, 6)).logits)
    centred = (logits - logits.mean(dim=1, keepdim=True)).numpy()
    columns = [predictor.labels.index(label) for label in table["predicted"]]
    assert np.allclose(total, centred[np.arange(6), columns], atol=1e-4)


def test_the_exported_model_explains_alike(xor_run, xor_data: Path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    samples = _samples(xor_data, 8)
    onnx = Predictor(xor_run.run_dir, backend="onnx").predict(samples, explain=True)
    torch_fp32 = _fp32(xor_run.run_dir).predict(samples, explain=True)
    for a, b in zip(onnx, torch_fp32):
        assert a.label == b.label
        for m in ("image", "text"):
            assert a.explanation["contributions"][m] == pytest.approx(b.explanation["contributions"][m], abs=1e-3)


def test_when_only_the_text_decides_the_text_gets_nearly_all_of_it(tiny_bert: Path, feature_cache: Path,
                                                                   tmp_path: Path) -> None:
    from mmfusion.testing.data import make_xor_dataset

    csv = make_xor_dataset(tmp_path / "data", n=240, task="text", seed=3)
    result = fit(xor_spec(tmp_path, csv, tiny_bert, feature_cache, epochs=8), out=tmp_path / "run", progress=False)
    test = result.summary["test"]
    assert test["accuracy"] > 0.9
    assert test["reliance"]["share"]["text"] >= 0.9, test["reliance"]
    assert (tmp_path / "run" / "plots" / "reliance.png").exists()

    # the CLI: one explained prediction, as JSON and as a picture with the contributions panel
    image = str(csv.parent / pd.read_csv(csv)["image"][0])
    plot = tmp_path / "explained.png"
    out = CliRunner().invoke(cli, ["predict", str(tmp_path / "run"), "--image", image, "--text", "the alpha shape",
                                    "--explain", "--plot", str(plot)])
    assert out.exit_code == 0, out.output
    found = json.loads(out.stdout)
    assert found["label"] == "alpha"
    contributions = found["explanation"]["contributions"]
    assert contributions["text"] > 0 and abs(contributions["text"]) > 5 * abs(contributions["image"])
    with Image.open(plot) as picture:
        assert picture.size[0] > picture.size[1]


def test_explain_on_a_model_with_one_input_is_a_clear_error(tiny_bert: Path, feature_cache: Path,
                                                            tmp_path: Path) -> None:
    from mmfusion.testing.data import make_xor_dataset

    csv = make_xor_dataset(tmp_path / "data", n=60, task="text")
    spec = write_spec(tmp_path, f"""\
model:
  encoders:
    text: {{type: hf_text, path: {tiny_bert}, freeze: true, pooling: mean}}
  fusion: {{type: concat}}
  head: {{type: linear}}
data:
  source: {{type: csv, train: {csv}}}
  split: {{validation: 0.2, test: 0.2}}
train: {{epochs: 1, cache_dir: {feature_cache}}}
""")
    fit(spec, out=tmp_path / "run", progress=False)
    with pytest.raises(DataError, match="reads only 'text'"):
        Predictor(tmp_path / "run").predict_one(text="alpha", explain=True)
    report = evaluate_run(tmp_path / "run", out=tmp_path / "eval")
    assert report.reliance == {} and "Which input decided" not in report.to_markdown()  # nothing to compare
    out = CliRunner().invoke(cli, ["predict", str(tmp_path / "run"), "--text", "alpha", "--explain"])
    assert out.exit_code == 2 and "reads only 'text'" in out.output


def _legend_inside(fig) -> bool:  # type: ignore[no-untyped-def]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    outer = fig.get_window_extent(renderer)
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    return bool(legends) and all(outer.contains(*box.min) and outer.contains(*box.max)
                                 for box in (lg.get_window_extent(renderer) for lg in legends))


def test_the_pictures_say_what_they_show() -> None:
    found = {"inputs": ["image", "text"], "rows": 10, "share": {"image": 0.2, "text": 0.8},
             "per_class": [{"class": "a", "rows": 6, "share": {"image": 0.1, "text": 0.9}},
                           {"class": "b", "rows": 4, "share": {"image": 0.4, "text": 0.6}}]}
    fig = reliance_figure(found, title="Reliance")
    (ax,) = fig.axes
    assert ax.get_title() == "Reliance" and "share of the attribution" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b (4)", "a (6)", "all rows (10)"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["image", "text"]
    assert _legend_inside(fig)
    widths = [p.get_width() for p in ax.patches]  # image bars then text bars, bottom row first
    assert widths == pytest.approx([0.4, 0.1, 0.2, 0.6, 0.9, 0.8])

    explanation = {"label": "a", "baseline": -0.5, "contributions": {"image": -0.25, "text": 2.0}, "value": 1.25}
    fig = prediction_figure(Image.new("RGB", (8, 8)), "some text", ["a", "b"], [0.9, 0.1], explanation=explanation)
    picture, bars, panel = fig.axes
    assert bars.get_xlabel() == "probability" and panel.get_title() == "Which input decided"
    assert panel.get_xlabel() == "contribution to 'a'"
    assert [t.get_text() for t in panel.get_yticklabels()] == ["text", "image"]
    assert [p.get_width() for p in panel.patches] == [2.0, -0.25]
    assert any("without any input -0.50" in t.get_text() for t in panel.texts)
