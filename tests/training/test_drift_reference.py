"""Training keeps each input's drift reference; the test report flags a test table whose pictures look unlike the
training pictures, and only that input."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmfusion.api import fit
from mmfusion.inference.drift import read_references

from ..conftest import noise_pictures, xor_spec


@pytest.mark.slow
def test_the_run_keeps_a_reference_and_the_plain_test_split_is_not_flagged(xor_run) -> None:  # type: ignore
    references = read_references(xor_run.run.paths.drift)
    assert set(references) == {"image", "text"}
    drift = {d["input"]: d for d in xor_run.summary["test"]["drift"]}
    assert set(drift) == {"image", "text"}
    assert drift["image"]["rows"] == xor_run.summary["test"]["rows"]
    assert not drift["image"]["drifted"] and drift["image"]["auroc"] <= 0.7


@pytest.mark.slow
def test_a_test_table_of_other_pictures_is_flagged_on_the_image_only(xor_data: Path, tiny_bert: Path,
                                                                     feature_cache: Path, tmp_path: Path) -> None:
    test = noise_pictures(xor_data, tmp_path)
    spec = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=1).read_text().replace(
        "source: {type: csv, train: " + str(xor_data) + "}",
        f"source: {{type: csv, train: {xor_data}, test: {test}}}").replace("test: 0.2", "test: 0.0")
    (tmp_path / "spec.yaml").write_text(spec)
    with pytest.warns(UserWarning, match="input 'image': the evaluated rows' values look unlike"):
        result = fit(tmp_path / "spec.yaml", out=tmp_path / "run")
    drift = {d["input"]: d for d in result.summary["test"]["drift"]}
    assert drift["image"]["drifted"] and drift["image"]["auroc"] >= 0.9 and drift["image"]["median_percentile"] >= 0.9
    # 300 rows leave fewer than 100 reference distances: too few for a 99th percentile, so no range is claimed
    assert drift["image"]["reference_rows"] < 100 and drift["image"]["beyond_range"] is None
    assert not drift["text"]["drifted"]


@pytest.mark.slow
def test_drift_off_writes_no_reference(xor_data: Path, tiny_bert: Path, feature_cache: Path, tmp_path: Path) -> None:
    result = fit(xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=1, extra="  drift: false\n"),
                 out=tmp_path / "run")
    assert not result.run.paths.drift.exists()
    assert "drift" not in result.summary["test"]


@pytest.mark.slow
def test_the_quality_gate_answers_far_off_pictures_from_the_text_alone(tiny_bert: Path, feature_cache: Path,
                                                                        tmp_path: Path) -> None:
    """Noise pictures lie far beyond the training pictures: the gated model predicts exactly as without them,
    while the training table's own pictures pass. 800 rows: a gate needs 100 reference distances (400 distinct
    training values) before it drops anything."""
    import csv

    import numpy as np

    from mmfusion.prediction.predictor import Predictor
    from mmfusion.testing.data import make_xor_dataset

    xor_data = make_xor_dataset(tmp_path / "data", n=800)

    spec = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=2, extra="  quality_gate: {factor: 2}\n")
    result = fit(spec, out=tmp_path / "run")
    predictor = Predictor(result.run.paths.root)
    assert predictor.model.gate is not None and predictor.model.gate.fitted
    noise = list(csv.DictReader(noise_pictures(xor_data, tmp_path).open(encoding="utf-8")))[:40]
    root = xor_data.parent
    gated = predictor.predict_proba([{"image": r["image"], "text": r["text"]} for r in noise], root=root)
    textual = predictor.predict_proba([{"image": None, "text": r["text"]} for r in noise], root=root)
    np.testing.assert_allclose(gated, textual, atol=1e-6)
    from mmfusion.api import evaluate

    seen = {g["input"]: g for g in evaluate(result.run.paths.root, xor_data, out=tmp_path / "plain").gate}
    assert seen["image"]["share"] <= 0.02 and seen["text"]["dropped"] == 0  # the training pictures pass

    report = evaluate(result.run.paths.root, noise_pictures(xor_data, tmp_path / "again"), image_root=root)
    shares = {g["input"]: g for g in report.gate}
    assert shares["image"]["share"] == 1.0 and shares["image"]["rows"] == 800 and shares["text"]["dropped"] == 0
    assert "## Quality gate: inputs dropped from rows" in (Path(report.files["markdown"])).read_text()


@pytest.mark.slow
def test_a_test_table_of_other_texts_is_flagged_on_the_text_only(xor_data: Path, tiny_bert: Path,
                                                                 feature_cache: Path, tmp_path: Path) -> None:
    """The known answer on the other input: the pictures stay, every text becomes words the training texts never
    use, and only the text is flagged."""
    import csv

    rows = list(csv.DictReader(xor_data.open(encoding="utf-8")))
    words = "zebra quantum violin harbour meadow copper lantern orbit".split()
    for i, row in enumerate(rows):
        row["text"] = " ".join(words[(i + k) % len(words)] for k in range(5))
        row["image"] = str(xor_data.parent / row["image"])
    other = tmp_path / "other_texts.csv"
    with other.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = fit(xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=1), out=tmp_path / "run")
    from mmfusion.api import evaluate

    with pytest.warns(UserWarning, match="input 'text': the evaluated rows' values look unlike"):
        report = evaluate(result.run.paths.root, other)
    drift = {d["input"]: d for d in report.drift}
    assert drift["text"]["drifted"] and drift["text"]["auroc"] >= 0.9
    assert not drift["image"]["drifted"] and drift["image"]["auroc"] <= 0.6
