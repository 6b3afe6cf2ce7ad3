"""The tabular plugin: conformance, learned preprocessing, missing values and unseen categories."""

from __future__ import annotations

import math

import pytest
from mmfusion_tabular import TabularConfig, TabularEncoder, TabularModality
from pydantic import ValidationError

from mmfusion import CellContext, DataError
from mmfusion.testing import parametrize_with_checks


@parametrize_with_checks([TabularEncoder])
def test_tabular_conformance(component, check):  # type: ignore[no-untyped-def]
    check(component)


def _encoder(**kwargs) -> TabularEncoder:  # type: ignore[no-untyped-def]
    return TabularEncoder(TabularConfig(numeric=["size"], categorical=["shop"], dim=8, **kwargs)).eval()


def test_standardisation_and_vocabulary_are_learned_from_training_values() -> None:
    encoder = _encoder(min_category_count=2)
    encoder.fit_preprocessing([{"size": "10", "shop": "a"}, {"size": "30", "shop": "a"},
                               {"size": None, "shop": "b"}])
    state = encoder.preprocessing_state()
    assert state["numeric"]["size"] == [20.0, 10.0]
    assert state["categorical"]["shop"] == ["a"]  # 'b' is too rare: treated as unseen
    item = encoder.preprocess({"size": "40", "shop": "b"})
    assert item["numeric"].tolist() == [2.0] and item["categorical"].tolist() == [0]  # unseen
    assert encoder.preprocess({"size": None, "shop": None})["categorical"].tolist() == [1]  # missing
    assert math.isnan(encoder.preprocess({"size": None, "shop": "a"})["numeric"][0])
    assert encoder.embeddings["shop"].num_embeddings == 3
    described = encoder.preprocessing()  # what an exported model's JSON tells non-Python callers
    assert described["categorical_columns"] == ["shop"] and "2 + its position" in described["categorical"]
    assert encoder.preprocess({"size": "10", "shop": "a"})["categorical"].tolist() == [2]  # as described


def test_missing_numbers_are_hidden_or_imputed() -> None:
    values = [{"size": "1", "shop": "a"}, {"size": None, "shop": "a"}]
    for policy, visible in (("absent", False), ("impute_mean", True)):
        encoder = _encoder(missing_numeric=policy)
        encoder.fit_preprocessing(values)
        out = encoder(encoder.collate([encoder.preprocess(v) for v in values]))
        assert out.tokens.shape == (2, 2, 8)
        assert bool(out.token_mask[1, 0]) is visible and bool(out.token_mask[0, 0])


def test_modality_reads_named_columns_and_all_empty_is_absent() -> None:
    modality = TabularModality()
    context = CellContext("t.csv", 2, ("size", "shop"))
    assert modality.parse(["3.5", float("nan")], context) == {"size": "3.5", "shop": None}
    assert modality.parse(["", None], context) is None


def test_clear_errors() -> None:
    with pytest.raises(ValidationError, match="both numeric and categorical"):
        TabularConfig(numeric=["a"], categorical=["a"])
    with pytest.raises(ValidationError, match="list the table's columns"):
        TabularConfig()
    encoder = _encoder()
    with pytest.raises(DataError, match="'size': 'big' is not a number"):
        encoder.preprocess({"size": "big", "shop": "a"})
    with pytest.raises(DataError, match="reads columns size, shop"):
        encoder.fit_preprocessing([{"price": "1"}])
