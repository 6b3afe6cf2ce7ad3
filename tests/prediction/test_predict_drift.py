"""Predicted tables carry each input's drift percentile per row, and predict --csv summarises it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from mmfusion.cli import cli
from mmfusion.prediction.predictor import Predictor
from mmfusion.prediction.tables import table_drift

from ..conftest import noise_pictures


def test_each_row_gets_a_drift_percentile_per_input(xor_run, xor_data: Path) -> None:  # type: ignore
    predictor = Predictor(xor_run.run_dir)
    out = predictor.predict_table(xor_data)
    for column in ("drift_image", "drift_text"):
        assert ((out[column] >= 0) & (out[column] <= 1)).all()
    out["drift_note"] = "a user's own column is not read"
    drift = {d.input: d for d in table_drift(out, predictor.drift)}
    assert set(drift) == {"image", "text"}
    assert not drift["image"].drifted  # the training table itself
    assert drift["image"].rows == len(out)


def test_predict_csv_warns_about_an_input_unlike_the_training_ones(xor_run, xor_data: Path,  # type: ignore
                                                                   tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["predict", str(xor_run.run_dir), "--csv",
                                       str(noise_pictures(xor_data, tmp_path)), "--output", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    assert "drift of input 'image' over 300 rows: AUROC" in result.output
    assert "warning: input 'image'" in result.output
    assert "warning: input 'text'" not in result.output
    import pandas as pd

    assert np.nanmean(pd.read_csv(tmp_path / "p.csv")["drift_image"]) >= 0.9
