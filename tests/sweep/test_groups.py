"""Groups of test rows: a column's values, rows unseen in training, and clear errors for unusable columns."""

from __future__ import annotations

import pandas as pd
import pytest

from mmfusion.data.cells import ROW_COLUMN
from mmfusion.data.tables import PreparedTables
from mmfusion.errors import SpecError
from mmfusion.sweep.groups import check_groups, group_values
from mmfusion.sweep.spec import ReportSpec


def _tables(test_ids: list[int]) -> PreparedTables:
    train = pd.DataFrame({"question": ["what colour?", "what shape?", "is it red?"], "level": ["easy"] * 3,
                          ROW_COLUMN: [2, 3, 4]})
    test = pd.DataFrame({"question": ["what shape?", "how many?", None][:len(test_ids)],
                         "level": ["easy", "hard", "hard"][:len(test_ids)], "id": test_ids, ROW_COLUMN: [7, 8, 9]})
    return PreparedTables(tables={"train": train, "test": test}, names={"train": "data.csv", "test": "test.csv"})


def test_values_and_unseen_rows() -> None:
    report = ReportSpec(groups=["level"], unseen=["question"])
    prepared = _tables([1, 2, 3])
    check_groups(report, prepared, "sweep.yaml")
    groups = group_values(report, prepared)
    assert groups["level"] == {7: "easy", 8: "hard", 9: "hard"}
    assert groups["unseen question"] == {7: "seen in training", 8: "unseen", 9: "unseen"}  # an empty cell too


def test_unusable_group_columns_are_errors() -> None:
    with pytest.raises(SpecError, match="sweep.yaml: report.unseen: the data.csv has no column 'id' "
                                        r"\(columns: question, level\)"):
        check_groups(ReportSpec(unseen=["id"]), _tables([1, 2, 3]), "sweep.yaml")
    with pytest.raises(SpecError, match="report.groups: the test.csv has no column 'levels'"):
        check_groups(ReportSpec(groups=["levels"]), _tables([1, 2, 3]), "sweep.yaml")
    many = _tables([1, 2, 3])
    many.tables["test"] = pd.concat([many.tables["test"]] * 10, ignore_index=True).assign(id=range(30))
    with pytest.raises(SpecError, match="column 'id' has 30 distinct values in the test rows.*at most 20"):
        check_groups(ReportSpec(groups=["id"]), many, "sweep.yaml")
