"""The drift score tells rows like the training rows from rows unlike them, and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from mmfusion.inference.drift import InputDrift, InputReference, auroc, fit_reference, percentiles, summarise


def _features(rng: np.random.Generator, n: int, shift: float = 0.0, dim: int = 48) -> np.ndarray:
    basis = np.random.default_rng(0).normal(size=(dim, dim))  # the same correlated space for every sample
    return rng.normal(size=(n, dim)) @ basis + shift


def _drift(reference: InputReference, name: str, rows: np.ndarray) -> InputDrift:
    return summarise(name, percentiles(reference.reference, reference.distances(rows)))


def test_rows_from_the_training_distribution_are_not_flagged() -> None:
    rng = np.random.default_rng(1)
    reference = fit_reference(_features(rng, 2000))
    drift = _drift(reference, "image", _features(rng, 1000))
    assert 0.4 <= drift.auroc <= 0.6
    assert drift.beyond_range < 0.05
    assert not drift.drifted


@pytest.mark.parametrize("shift", [3.0, 10.0])
def test_shifted_rows_are_flagged(shift: float) -> None:
    rng = np.random.default_rng(2)
    reference = fit_reference(_features(rng, 2000))
    drift = _drift(reference, "image", _features(rng, 500, shift=shift))
    assert drift.auroc >= 0.9
    assert drift.beyond_range >= 0.5
    assert drift.drifted
    assert "'image'" in drift.warning()


def test_duplicated_training_values_do_not_make_new_rows_look_drifted() -> None:
    rng = np.random.default_rng(3)
    distinct = _features(rng, 400)
    repeated = np.repeat(distinct, 10, axis=0)  # one picture behind many questions, as in easy-VQA
    reference = fit_reference(repeated)
    assert reference is not None
    assert _drift(reference, "image", _features(rng, 400)).auroc <= 0.6


def test_too_few_distinct_values_give_no_reference() -> None:
    assert fit_reference(np.ones((100, 8))) is None
    assert fit_reference(np.random.default_rng(0).normal(size=(5, 8))) is None


def test_absent_rows_are_left_out() -> None:
    rng = np.random.default_rng(4)
    reference = fit_reference(_features(rng, 500))
    shares = percentiles(reference.reference, reference.distances(_features(rng, 20)))
    shares[:5] = np.nan
    assert summarise("text", shares).rows == 15
    assert summarise("text", np.full(3, np.nan)).rows == 0


def test_the_reference_round_trips_through_tensors() -> None:
    rng = np.random.default_rng(5)
    reference = fit_reference(_features(rng, 300))
    tensors = {k: v.astype(np.float32) for k, v in reference.tensors("image").items()}
    again = InputReference.from_tensors(tensors, "image")
    rows = _features(rng, 50)
    np.testing.assert_allclose(again.distances(rows), reference.distances(rows), rtol=1e-3)


def test_auroc_is_the_mann_whitney_statistic() -> None:
    assert auroc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 1.0
    assert auroc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 0.0
    assert auroc(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.5
    assert np.isnan(auroc(np.array([]), np.array([1.0])))


def test_a_tables_auroc_is_the_mean_of_its_rows_percentiles() -> None:
    reference, rows = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.5, 2.5, 3.5, 9.0, 2.0])
    assert percentiles(reference, rows).tolist() == [0.0, 0.5, 0.75, 1.0, 0.375]  # a tie counts half
    assert auroc(reference, rows) == summarise("x", percentiles(reference, rows)).auroc == 0.525


def test_a_tally_of_chunks_gives_the_summary_of_the_whole_table() -> None:
    from mmfusion.inference.drift import DriftTally

    rng = np.random.default_rng(6)
    reference = fit_reference(_features(rng, 2000))
    shares = percentiles(reference.reference, reference.distances(_features(rng, 700, shift=0.3)))
    shares[::7] = np.nan  # rows without the input
    tally = DriftTally({"image": reference})
    for part in np.array_split(shares, 5):
        tally.add("image", part)
    whole, counted = summarise("image", shares, len(reference.reference)), tally.report()[0]
    assert counted.rows == whole.rows
    assert counted.auroc == pytest.approx(whole.auroc, abs=1e-12)
    assert counted.beyond_range == pytest.approx(whole.beyond_range, abs=1e-12)
    assert abs(counted.median_percentile - whole.median_percentile) <= 2 / len(reference.reference)  # a step or so


def test_a_small_reference_reports_no_range_and_inputs_no_row_has_are_left_out() -> None:
    from mmfusion.inference.drift import drift_report

    rng = np.random.default_rng(7)
    small = fit_reference(_features(rng, 40))  # 10 reference distances: no 99th percentile to speak of
    shares = percentiles(small.reference, small.distances(_features(rng, 50)))
    assert np.isnan(summarise("text", shares, len(small.reference)).beyond_range)
    report = drift_report({"text": shares, "image": np.full(5, np.nan)}, {"text": small, "image": small})
    assert [d.input for d in report] == ["text"] and report[0].reference_rows == len(small.reference)


def test_non_finite_vectors_are_left_out_of_the_fit_and_get_no_percentile() -> None:
    rng = np.random.default_rng(8)
    vectors = _features(rng, 200)
    vectors[:3] = np.nan
    reference = fit_reference(vectors)
    assert reference is not None
    assert np.isnan(percentiles(reference.reference, reference.distances(vectors[:1]))).all()
