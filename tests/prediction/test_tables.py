"""Tables predicted a chunk at a time: the chunks' text joins into the whole table's, and rows are sliced right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmfusion.errors import DataError
from mmfusion.prediction.tables import TableInput, samples_of, table_text, with_predictions

FRAME = pd.DataFrame({"image": ["a.png", None, "c,d.png", "e.png", "f.png"], "text": ["x", "y", None, '"q"', "é"],
                      "score": [1.5, np.nan, 2.0, 1 / 3, 7.0]})


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("size", [1, 2, 5, 9])
def test_chunks_write_what_the_whole_table_writes(fmt: str, size: int) -> None:
    whole = FRAME.to_csv(index=False) if fmt == "csv" else FRAME.to_json(orient="records", indent=2)
    assert "".join(table_text((FRAME.iloc[i:i + size] for i in range(0, len(FRAME), size)), fmt)) == whole


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_an_empty_table_writes_what_pandas_writes(fmt: str) -> None:
    empty = FRAME.iloc[0:0]
    expected = empty.to_csv(index=False) if fmt == "csv" else empty.to_json(orient="records", indent=2)
    assert "".join(table_text([empty], fmt)) == expected


def test_a_file_is_named_by_line_and_a_data_frame_by_row(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    FRAME.to_csv(path, index=False)
    source = TableInput.of(path)
    assert (source.source, source.first_row, source.row_kind, source.root) == ("rows.csv", 2, "line", tmp_path)
    assert [start for start, _ in source.chunks(2)] == [0, 2, 4]
    frame = TableInput.of(FRAME)
    assert (frame.first_row, frame.row_kind, frame.root) == (0, "row", None)
    assert [len(chunk) for _, chunk in frame.chunks(3)] == [3, 2]
    assert [len(chunk) for _, chunk in TableInput.of(FRAME.iloc[0:0]).chunks(3)] == [0]
    with pytest.raises(DataError, match=r"rows\.csv lacks the column\(s\) label the model was trained with "
                                        r"\(columns: image, text, score\)"):
        source.check_columns(["text", "label"])


def test_samples_take_each_input_from_its_columns() -> None:
    samples = samples_of(FRAME.iloc[1:3], {"image": "image", "both": ["text", "image"]})
    assert samples[1]["image"] == "c,d.png" and pd.isna(samples[1]["both"][0]) and samples[1]["both"][1] == "c,d.png"


def test_prediction_columns() -> None:
    probabilities = np.array([[0.2, 0.8], [0.6, 0.4]])
    out = with_predictions(FRAME.iloc[:2].copy(), probabilities, ["no", "yes"], "multiclass", top_k=2)
    assert out["predicted"].tolist() == ["yes", "no"] and out["top2"].tolist() == ["no", "yes"]
    assert np.allclose(out["p_yes"], [0.8, 0.4])
    multi = with_predictions(FRAME.iloc[:2].copy(), probabilities, ["a", "b"], "multilabel", top_k=3,
                             thresholds=[0.5, 0.5], label_sep="|")
    assert multi["predicted"].tolist() == ["b", "a"]


def test_tied_scores_choose_the_same_label_for_one_sample_and_for_a_table() -> None:
    import numpy as np
    import pandas as pd

    from mmfusion.prediction.predictor import Predictor
    from mmfusion.prediction.tables import with_predictions

    tied = np.array([[0.4, 0.4, 0.2]])
    predictor = object.__new__(Predictor)  # only the decision: labels, task, thresholds
    predictor.labels, predictor.task, predictor.thresholds = ["a", "b", "c"], "multiclass", None
    one = predictor._prediction(tied[0], top_k=3)
    table = with_predictions(pd.DataFrame({"x": [1]}), tied, ["a", "b", "c"], "multiclass", 3)
    assert one.label == table["predicted"][0] == table["top1"][0] == "a"
    assert [label for label, _ in one.top] == [table["top1"][0], table["top2"][0], table["top3"][0]] == ["a", "b", "c"]
