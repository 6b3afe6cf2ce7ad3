"""Ablation sweeps: all outputs, resumption, and clear errors for bad sweep files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmfusion.cli import cli
from mmfusion.errors import SpecError
from mmfusion.spec import load_spec
from mmfusion.sweep.runner import run_sweep, spec_digest
from mmfusion.sweep.spec import load_sweep, slug

from ..conftest import write_spec, xor_spec

SWEEP = """\
base: base.yaml
seeds: [0, 1]
variants:
  - name: Concat
  - name: Gated fusion
    set: {{model.fusion: {{type: gated, dim: 16}}, train.lr: 0.005}}
evaluate:
  corruptions: ["image:occlusion=0,1"{extra}]
report: {{groups: [label], unseen: [text], resamples: 200}}
"""


@pytest.fixture
def sweep_file(xor_data: Path, tiny_bert: Path, feature_cache: Path, tmp_path: Path) -> Path:
    xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=3, name="base.yaml")
    return write_spec(tmp_path, SWEEP.format(extra=""), "sweep.yaml")


@pytest.mark.slow
def test_sweep_writes_every_output_and_resumes(sweep_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_sweep(sweep_file, out, progress=False)
    variants = ["image only", "text only", "Concat", "Gated fusion"]
    assert [(r["variant"], r["seed"]) for r in result.records] == [(v, s) for v in variants for s in (0, 1)]
    for name in ("results.csv", "results.md", "results.png", "corruption_curves.png"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 10 and rows[0]["accuracy_without_text"] == ""  # image only has no text to remove
    ensemble = [r for r in rows if r["variant"] == "unimodal ensemble"]  # one row per seed, after the runs
    assert [r["seed"] for r in ensemble] == ["0", "1"] and " + " in ensemble[0]["run_dir"]
    concat = [r for r in rows if r["variant"] == "Concat"]
    assert all(0 <= float(r["accuracy_without_text"]) <= 1 and 0 <= float(r["accuracy"]) <= 1 for r in concat)
    markdown = (out / "results.md").read_text()
    assert "| Concat | 2 |" in markdown and " ± " in markdown and "Does fusion pay?" in markdown
    assert "image:occlusion" in markdown
    # XOR: one input alone is at chance, so without either input every fusion is near the baseline left
    assert "## Losing an input: without X against the baseline of what is left" in markdown
    assert "| Concat | image |" in markdown and "| text only |" in markdown
    assert (out / "runs" / "gated-fusion" / "seed-1" / "weights.safetensors").exists()
    gated = load_sweep(sweep_file).variants[1]
    assert gated.set["train.lr"] == 0.005
    # the unimodal ensemble, paired tests, per-class and per-group tables, from every run's predictions.npz
    assert "| unimodal ensemble | 2 |" in markdown and "## Confidence intervals and paired tests" in markdown
    assert "200 resamples, each drawing the 60 test rows" in markdown and "### unseen text" in markdown
    summary = {r["variant"]: r for r in csv.DictReader((out / "results_summary.csv").open())}
    assert summary["unimodal ensemble"]["kind"] == "ensemble" and summary["Concat"]["vs_single_p"]
    groups = list(csv.DictReader((out / "groups.csv").open()))
    assert {r["group"] for r in groups} == {"label", "unseen text"}
    assert {r["value"] for r in groups if r["group"] == "label"} == {"same", "different"}
    per_class = list(csv.DictReader((out / "per_class.csv").open()))
    assert len(per_class) == 5 * 2 * 2  # 4 variants and the ensemble, 2 seeds, 2 classes
    best = max(summary.values(), key=lambda r: float(r["accuracy_mean"]) if r["kind"] != "ensemble" else -1)
    best_record = json.loads((out / "runs" / slug(best["variant"]) / "seed-0" / "ablation.json").read_text())
    assert spec_digest(load_spec(out / "best_spec.yaml")) == best_record["spec_digest"]  # trains as it was trained

    (out / "runs" / "concat" / "seed-1" / "ablation.json").unlink()  # as if interrupted during this run
    recorded = out / "runs" / "text-only" / "seed-0"
    predictions = recorded / json.loads((recorded / "ablation.json").read_text())["predictions"]
    predictions.unlink()  # the reports need every run's predictions: that run is evaluated again, from disk
    again = run_sweep(sweep_file, out, progress=False)
    assert again.skipped == 6 and predictions.is_file()
    assert [r["accuracy"] for r in again.records] == [r["accuracy"] for r in result.records]
    assert (out / "results.md").read_text() == markdown  # the same report, the ensemble and tests included

    # an edited variant must not reuse (or resume) the runs made with the old settings
    sweep_file.write_text(sweep_file.read_text().replace("train.lr: 0.005", "train.lr: 0.002"))
    with pytest.raises(SpecError, match="gated-fusion.*different spec than the sweep now asks for"):
        run_sweep(sweep_file, out, progress=False)


@pytest.mark.slow
def test_a_sweep_reads_its_tables_once_and_evaluates_the_models_it_trained_in_memory(
        sweep_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmfusion.evaluation import evaluate
    from mmfusion.model.multimodal import MultimodalModel
    from mmfusion.registry import get_registry

    reads, builds = [], []
    source, build = get_registry().get("dataset", "csv"), MultimodalModel.__init__
    monkeypatch.setattr(source, "load", lambda self, load=source.load: reads.append(1) or load(self))
    monkeypatch.setattr(MultimodalModel, "__init__", lambda self, *a, **k: builds.append(1) or build(self, *a, **k))
    monkeypatch.setattr(evaluate, "load_run", lambda *a, **k: pytest.fail("the sweep read a run back from disk"))
    path = write_spec(tmp_path, "base: base.yaml\nseeds: [0]\nbaselines: false\nvariants:\n  - name: A\n"
                                "  - name: B\n    set: {train.lr: 0.005}\n", "small.yaml")
    result = run_sweep(path, tmp_path / "small", progress=False)
    assert [r["variant"] for r in result.records] == ["A", "B"]
    assert len(reads) == 1  # one read per sweep
    assert len(builds) == 2 * 2  # per variant: one build to check it before any training, one to train it
    for record in result.records:  # the test metrics are training's own, computed once
        test = json.loads((Path(record["run_dir"]) / "summary.json").read_text())["test"]
        assert record["metrics"] == {m: test[m] for m in record["metrics"]}


def test_bad_sweeps_are_clear_errors(sweep_file: Path, tmp_path: Path) -> None:
    def error(text: str) -> str:
        path = write_spec(tmp_path, text, "bad.yaml")
        with pytest.raises(SpecError) as info:
            run_sweep(path, tmp_path / "never", progress=False)
        return str(info.value)

    assert "variant 'x': model.fusion.type: unknown fusion 'gatd'" in error(
        "base: base.yaml\nvariants:\n  - name: x\n    set: {model.fusion: {type: gatd}}\n")
    assert "modalities audio are not inputs" in error(
        "base: base.yaml\nvariants:\n  - name: x\n    modalities: [audio]\n")
    assert "variant names must be distinct" in error(
        "base: base.yaml\nvariants:\n  - name: A\n  - name: a\n")
    assert "bad.yaml:2: seedz: unknown key" in error("base: base.yaml\nseedz: [1]\n")
    assert "no variants" in error("base: base.yaml\nbaselines: false\n")
    assert "would share the run folder 'text-only' with the automatic baseline 'text only'" in error(
        "base: base.yaml\nvariants:\n  - name: Text only\n    modalities: [text]\n")
    assert "variant 'film on text' cannot be built" in error(  # conditioned on an input the variant lacks
        "base: base.yaml\nvariants:\n  - name: film on text\n    modalities: [image]\n"
        "    set: {model.fusion: {type: film, dim: 16, condition_on: text}}\n")
    assert "bad.yaml: rank_by: auroc is not a metric of multiclass data (the default); choose one of accuracy, " \
           "macro_f1" in error("base: base.yaml\nrank_by: auroc\n")
    assert "bad.yaml: report.groups: the data.csv (test split) has no column 'level' (columns: image, text, label)" \
        in error("base: base.yaml\nreport: {groups: [level]}\n")
    assert not (tmp_path / "never").exists()  # nothing trained before the sweep was checked


@pytest.mark.slow
def test_ablate_command(sweep_file: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["ablate", str(sweep_file), "--out", str(tmp_path / "cli"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "Ablation results" in result.output and "8 runs" in result.output
    missing = CliRunner().invoke(cli, ["ablate", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_relative_paths_in_overrides_resolve_against_the_sweep_file(sweep_file: Path, tiny_bert: Path,
                                                                    tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from mmfusion.sweep.variants import all_variants, variant_spec

    shutil.copytree(tiny_bert, tmp_path / "tiny-model")
    path = write_spec(tmp_path, "base: base.yaml\nvariants:\n  - name: other text\n"
                                "    set: {model.encoders.text.path: tiny-model}\n", "paths.yaml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    base, variants = all_variants(load_sweep(path))
    spec = variant_spec(base, variants[-1], 0, base_dir=tmp_path)
    assert spec.model.encoders["text"].path == str((tmp_path / "tiny-model").resolve())


def test_the_ensemble_example_expands_to_valid_specs() -> None:
    """examples/ablation_easy_vqa_ensemble.yaml: the baselines (whose ensemble the reports add) and two fusions."""
    from mmfusion.sweep.variants import all_variants, variant_spec

    from ..conftest import EXAMPLES

    sweep = load_sweep(EXAMPLES / "ablation_easy_vqa_ensemble.yaml")
    base, variants = all_variants(sweep)
    specs = {v.name: variant_spec(base, v, seed=0) for v in variants}
    assert list(specs) == ["image only", "text only", "concat", "late"] and sweep.report.resamples == 1000
    assert specs["late"].model.head is None and list(specs["text only"].model.encoders) == ["text"]
