"""``train.quality_gate``: rows whose input lies far beyond its training range lose that input, nothing else."""

from __future__ import annotations

import numpy as np
import torch

from mmfusion.inference.drift import fit_reference
from mmfusion.interfaces.encoder import EncoderOutput
from mmfusion.model.quality_gate import QualityGate
from mmfusion.model.unimodal import dynamic_logits
from mmfusion.training.callbacks.drift import fit_gate


def _outputs(**vectors: np.ndarray) -> dict[str, EncoderOutput]:
    return {m: EncoderOutput(torch.tensor(v, dtype=torch.float32)) for m, v in vectors.items()}


def test_the_gate_computes_the_drift_reports_distance_and_drops_far_inputs() -> None:
    rng = np.random.default_rng(0)
    train = {"image": rng.normal(size=(400, 16)) * np.linspace(0.01, 2, 16) + 5.0,
             "text": rng.normal(size=(400, 8))}
    references = {m: fit_reference(v) for m, v in train.items()}
    gate = QualityGate({"image": 16, "text": 8})
    assert not gate.fitted
    present = {"image": torch.ones(4, dtype=torch.bool), "text": torch.tensor([True, True, False, True])}
    unfitted = gate(_outputs(image=np.zeros((4, 16)), text=np.zeros((4, 8))), present)
    assert all(torch.equal(unfitted[m], present[m]) for m in present)  # passes everything until fitted

    fit_gate(gate, references, factor=2.0)
    assert gate.fitted
    new = {"image": rng.normal(size=(4, 16)) * np.linspace(0.01, 2, 16) + 5.0, "text": rng.normal(size=(4, 8))}
    new["image"][1] += 40  # far off: dropped
    new["image"][2] += 40  # far off, but the row has no text: kept (a row keeps its nearest input)
    new["text"][3] += 40
    for m in new:  # the gate's float32 buffers give the report's float64 distances
        np.testing.assert_allclose(gate.inputs[m].distance(torch.tensor(new[m], dtype=torch.float32)).numpy(),
                                   references[m].distances(new[m].astype(np.float32)), rtol=1e-4)
    gated = gate(_outputs(**new), present)
    assert gated["image"].tolist() == [True, False, True, True]
    assert gated["text"].tolist() == [True, True, False, False]


def test_both_inputs_far_keeps_the_nearer_one() -> None:
    rng = np.random.default_rng(1)
    gate = QualityGate({"a": 4, "b": 4})
    fit_gate(gate, {m: fit_reference(rng.normal(size=(600, 4))) for m in "ab"}, factor=2.0)
    outputs = _outputs(a=np.full((1, 4), 30.0), b=np.full((1, 4), 60.0))
    gated = gate(outputs, {"a": torch.tensor([True]), "b": torch.tensor([True])})
    assert gated["a"].tolist() == [True] and gated["b"].tolist() == [False]


def test_an_input_without_a_reference_is_never_dropped() -> None:
    rng = np.random.default_rng(2)
    gate = QualityGate({"a": 4, "b": 4})
    fit_gate(gate, {"a": fit_reference(rng.normal(size=(600, 4)))}, factor=2.0)
    gated = gate(_outputs(a=np.zeros((2, 4)), b=np.full((2, 4), 1e6)), {m: torch.ones(2, dtype=torch.bool)
                                                                         for m in "ab"})
    assert gated["b"].all() and gated["a"].all()


def test_dynamic_logits_weigh_each_head_by_its_confidence_in_the_row() -> None:
    fused = torch.tensor([[0.0, 0.0], [0.0, 0.0]])  # unsure: logsumexp log 2
    aux = {"image": torch.tensor([[8.0, 0.0], [8.0, 0.0]]), "text": torch.tensor([[-9.0, -9.0], [0.0, 3.0]])}
    present = {"image": torch.tensor([True, False]), "text": torch.tensor([True, True])}
    mixed = dynamic_logits(fused, aux, present, ["image", "text"])
    c_fused, c_image = float(np.log(2)), float(np.log(np.exp(8) + 1))
    expected = (c_image * aux["image"][0]) / (c_fused + c_image + 1e-3)  # text's energy below 0: barely counts
    torch.testing.assert_close(mixed[0], expected + 1e-3 * aux["text"][0] / (c_fused + c_image + 1e-3), atol=1e-4,
                               rtol=1e-4)
    c_text = float(np.log(1 + np.exp(3)))  # row 1 has no image: it takes no share
    torch.testing.assert_close(mixed[1], c_text * aux["text"][1] / (c_fused + c_text))


def test_an_input_with_too_few_reference_distances_is_never_dropped() -> None:
    """A 99th percentile of a handful of distances is their maximum: no range, as in the drift report."""
    rng = np.random.default_rng(3)
    gate = QualityGate({"a": 4, "b": 4})
    skipped = fit_gate(gate, {"a": fit_reference(rng.normal(size=(600, 4))),
                              "b": fit_reference(rng.normal(size=(100, 4)))}, factor=2.0)
    assert skipped == {"b": 25}
    assert gate.inputs["a"].active and not gate.inputs["b"].active
    far = _outputs(a=np.zeros((2, 4)), b=np.full((2, 4), 1e6))
    assert gate(far, {m: torch.ones(2, dtype=torch.bool) for m in "ab"})["b"].all()


def test_a_gate_with_an_input_it_never_drops_reads_back_from_a_weights_file(tmp_path) -> None:
    """Reading a run rejects infinite values as divergence: "never dropped" must be a finite threshold."""
    from safetensors.torch import save_file

    from mmfusion.run.files import read_weights

    rng = np.random.default_rng(4)
    gate = QualityGate({"a": 4, "b": 4})
    fit_gate(gate, {"a": fit_reference(rng.normal(size=(600, 4)))}, factor=2.0)  # b: no reference at all
    save_file(gate.state_dict(), str(tmp_path / "weights.safetensors"))
    again = QualityGate({"a": 4, "b": 4})
    again.load_state_dict(read_weights(tmp_path / "weights.safetensors"))
    assert again.fitted and again.inputs["a"].active and not again.inputs["b"].active
