"""A plugin's bug is reported as the plugin's: named by kind, name, distribution and file:line, exit 2, and a new
run that fails before its first epoch leaves no folder. A loss that cannot serve the data's task is named with the
spec's file and line, by `build` as by `train`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mmfusion.cli import cli
from mmfusion.registry import get_registry
from mmfusion.testing.data import make_multilabel_dataset

from ..conftest import write_spec, xor_spec
from ..plugin_fixtures import EXTRAS, WRONG_DIM, make_distribution, use_site


@pytest.fixture
def plugins_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(site, "mmfusion-extras", {"mmfusion_extras": EXTRAS}, {"extras": "mmfusion_extras"},
                      version="0.1.0")
    make_distribution(site, "mmfusion-wrongdim", {"wrongdim_plugin": WRONG_DIM}, {"wrongdim": "wrongdim_plugin"})
    use_site(site, monkeypatch)
    yield site
    get_registry.cache_clear()


def _train(spec: Path, out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["train", str(spec), "--out", str(out), "--quiet"])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.slow
@pytest.mark.usefixtures("plugins_site")
def test_an_error_inside_a_plugins_forward_names_the_plugin_and_leaves_no_run(
        xor_data: Path, tiny_bert: Path, feature_cache: Path, tmp_path: Path) -> None:
    spec = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=1, fusion="bilinear")
    code, output = _train(spec, tmp_path / "run")
    assert code == 2, output
    assert "error: fusion 'bilinear' from mmfusion-extras 0.1.0 raised RuntimeError: bilinear: the outer product " \
           "is not implemented yet" in output
    assert f"at {tmp_path / 'site' / 'mmfusion_extras.py'}:" in output
    assert "internal error" not in output and "please report it" not in output
    assert not (tmp_path / "run").exists()


@pytest.mark.usefixtures("plugins_site")
def test_train_runs_the_forward_check_before_writing_anything(xor_data: Path, tiny_bert: Path, feature_cache: Path,
                                                              tmp_path: Path) -> None:
    spec = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=1, fusion="wrong_dim")
    code, output = _train(spec, tmp_path / "run")
    assert code == 2, output
    assert "error: model.fusion (wrong_dim): output has width 4, but the fusion declares output_dim 5" in output
    assert "mat1" not in output and "internal error" not in output
    assert not (tmp_path / "run").exists()


def test_a_failed_resume_or_an_existing_folder_is_kept(xor_data: Path, tiny_bert: Path, feature_cache: Path,
                                                      tmp_path: Path) -> None:
    """Only a folder the failed fit created itself is removed: a folder that was there stays, with its files."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file")
    spec = xor_spec(tmp_path, xor_data, tiny_bert, feature_cache, epochs=1, fusion="{type: concat}",
                    extra="  loss: {type: bce, pos_weight: [1.0, 2.0, 3.0]}\n")
    code, _ = _train(spec, out)
    assert code == 2
    assert (out / "notes.txt").read_text() == "the user's own file"


def _multilabel_spec(tmp_path: Path, tiny_bert: Path) -> Path:
    data = make_multilabel_dataset(tmp_path / "data", n=40)
    return write_spec(tmp_path, f"""\
model:
  encoders:
    text: {{type: hf_text, path: {tiny_bert}}}
  fusion: concat
data:
  source: {{type: csv, train: {data}}}
  label: labels
  label_sep: ";"
train:
  epochs: 1
  loss: {{type: cross_entropy}}
""")


def test_build_names_a_loss_that_cannot_serve_the_task_found_in_the_data(tmp_path: Path, tiny_bert: Path) -> None:
    spec = _multilabel_spec(tmp_path, tiny_bert)
    result = CliRunner().invoke(cli, ["build", str(spec)])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert f"error: {spec}:11: train.loss: loss 'cross_entropy' handles multiclass data, not multilabel" in text
    assert "the task is multilabel (data.label_sep is set (';'))" in text


def test_train_names_the_same_file_and_line(tmp_path: Path, tiny_bert: Path) -> None:
    spec = _multilabel_spec(tmp_path, tiny_bert)
    code, output = _train(spec, tmp_path / "run")
    assert code == 2, output
    assert f"error: {spec}:11: train.loss: loss 'cross_entropy' handles multiclass data, not multilabel" in output
    assert not (tmp_path / "run").exists()
