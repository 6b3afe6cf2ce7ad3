"""Loading a run directory: every damaged or mismatched file is an error naming it, never made-up predictions."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmfusion.cli import cli
from mmfusion.errors import MMFusionError
from mmfusion.run.load import load_run


@pytest.fixture
def run_copy(xor_run, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """A private copy of the shared trained run, free to damage."""
    return Path(shutil.copytree(xor_run.run_dir, tmp_path / "run"))


def _write(name: str, content: bytes | str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        data = content.encode() if isinstance(content, str) else content
        (run / name).write_bytes(data)
    return damage


def _truncate(name: str, size: int) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        with open(run / name, "r+b") as handle:
            handle.truncate(size if size >= 0 else (run / name).stat().st_size + size)
    return damage


def _folder_instead(name: str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        (run / name).unlink()
        (run / name).mkdir()
    return damage


def _edit_model(part: str, **changes: object) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        import yaml

        spec = yaml.safe_load((run / "spec.yaml").read_text())
        spec["model"][part].update(changes)
        (run / "spec.yaml").write_text(yaml.safe_dump(spec))
    return damage


def _drop_task(run: Path) -> None:
    import yaml

    spec = yaml.safe_load((run / "spec.yaml").read_text())
    del spec["data"]["task"]
    (run / "spec.yaml").write_text(yaml.safe_dump(spec))


CASES = {
    # labels.json: the names of the model's outputs
    "labels: more names than classes": (_write("labels.json", '["a", "b", "c", "d", "e"]'),
                                        r"labels.json lists 5 labels but the weights were trained for 2 classes"),
    "labels: one name": (_write("labels.json", '["a"]'),
                         r"labels.json lists 1 label but the weights were trained for 2 classes"),
    "labels: empty list": (_write("labels.json", "[]"), r"labels.json lists no labels"),
    "labels: nested lists": (_write("labels.json", '[["a"], ["b"]]'),
                             r"labels.json: entry 0 is a list \(\[\"a\"\]\), not a class name string"),
    "labels: numbers": (_write("labels.json", "[0, 1]"), r"labels.json: entry 0 is a number"),
    "labels: duplicates": (_write("labels.json", '["same", "same"]'),
                           r"labels.json lists 'same' twice \(entries 0 and 1\)"),
    "labels: an object": (_write("labels.json", '{"0": "a", "1": "b"}'), r"labels.json holds an object"),
    "labels: garbage bytes": (_write("labels.json", b"\x00\xff\xfe garbage"), r"labels.json is corrupt: not UTF-8"),
    "labels: not JSON": (_write("labels.json", '["a", "b"'), r"labels.json is not valid JSON .*line 1"),
    "labels: empty file": (_write("labels.json", ""), r"labels.json is empty"),
    "labels: a folder": (_folder_instead("labels.json"), r"labels.json is a folder"),
    # weights.safetensors
    "weights: truncated": (_truncate("weights.safetensors", -100),
                           r"weights.safetensors is corrupt or truncated \(SafetensorError"),
    "weights: header cut": (_truncate("weights.safetensors", 5), r"weights.safetensors is corrupt or truncated"),
    "weights: empty": (_truncate("weights.safetensors", 0), r"weights.safetensors is corrupt or truncated"),
    "weights: garbage": (_write("weights.safetensors", b"\x13\x37" * 4000),
                         r"weights.safetensors is corrupt or truncated"),
    "weights: a folder": (_folder_instead("weights.safetensors"), r"weights.safetensors is a folder"),
    # spec.yaml edited after training
    "spec: projection size": (_edit_model("fusion", projection_dim=16),
                              r"does not fit the model that .*spec.yaml describes: "
                              r"fusion\.projections\.image\.0\.weight: weights have shape \[32, 256\], "
                              r"the spec's model has \[16, 256\] \(and \d+ more\)\. "
                              r"The spec was probably edited after training"),
    "spec: head depth": (_edit_model("head", hidden_dims=[32, 32]),
                         r"spec.yaml describes: head\.layers\.3\.weight: weights have shape \[2, 32\], the spec's "
                         r"model has \[32, 32\]"),
    "spec: no presence flags": (_edit_model("fusion", presence_flags=False),
                                r"spec.yaml describes: head\.layers\.0\.weight: weights have shape \[32, 66\], the "
                                r"spec's model has \[32, 64\]"),
    "spec: no input norm": (_edit_model("fusion", input_norm=False),
                            r"spec.yaml describes: .*: the weights have it \(\[\d+\]\) but the spec's model does not"),
    "spec: no task": (_drop_task, r"spec.yaml names no data.task, but training records the task there"),
    # inputs.json / preprocessing.json
    "inputs: not JSON": (_write("inputs.json", "{{{"), r"inputs.json is not valid JSON"),
    "inputs: a list": (_write("inputs.json", "[1, 2]"), r"inputs.json does not hold the training columns"),
    "inputs: unknown input": (_write("inputs.json", '{"columns": {"audio": ["a"]}}'),
                              r"inputs.json names input 'audio', which the run's model lacks \(inputs: image, text\)"),
    "inputs: columns of numbers": (_write("inputs.json", '{"columns": {"text": [1]}}'),
                                   r"inputs.json: the columns of 'text' should be a column name"),
    "preprocessing: garbage": (_write("preprocessing.json", b"\x89PNG\x00"), r"preprocessing.json is corrupt"),
    "preprocessing: unknown input": (_write("preprocessing.json", '{"audio": {}}'),
                                     r"preprocessing.json names input 'audio'"),
    "preprocessing: not an object": (_write("preprocessing.json", '{"text": 3}'),
                                     r"preprocessing.json: 'text' holds a number"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_run_file_is_named(case: str, run_copy: Path) -> None:
    damage, message = CASES[case]
    damage(run_copy)
    with pytest.raises(MMFusionError, match=message):
        load_run(run_copy)


@pytest.mark.parametrize("case", ["labels: duplicates", "labels: nested lists", "labels: more names than classes"])
def test_predict_refuses_labels_that_do_not_fit(case: str, run_copy: Path) -> None:
    """Regression: these predicted made-up labels with exit 0 (or crashed as an internal error)."""
    CASES[case][0](run_copy)
    result = CliRunner().invoke(cli, ["predict", str(run_copy), "--text", "a shape alpha"])
    assert result.exit_code == 2, result.output
    assert "labels.json" in result.output and "internal error" not in result.output


def test_a_damaged_summary_is_only_a_warning(run_copy: Path, xor_run) -> None:  # type: ignore[no-untyped-def]
    (run_copy / "summary.json").write_text('{"accuracy": ')
    with pytest.warns(UserWarning, match=r"summary.json is not valid JSON .*ignored: it only records how training"):
        run = load_run(run_copy)
    assert run.summary == {} and run.labels == json.loads((xor_run.run_dir / "labels.json").read_text())


def test_an_intact_run_loads_strictly(xor_run) -> None:  # type: ignore[no-untyped-def]
    run = load_run(xor_run.run_dir)
    assert run.labels == ["different", "same"] and run.model.num_classes == 2
    assert run.inputs["columns"] == {"image": ["image"], "text": ["text"]} and run.summary


def test_nan_weights_are_refused(run_copy: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(run_copy / "weights.safetensors"))
    state["head.layers.3.bias"][0] = float("nan")
    save_file(state, str(run_copy / "weights.safetensors"))
    with pytest.raises(MMFusionError, match=r"tensor head\.layers\.3\.bias holds NaN or infinite values"):
        load_run(run_copy)


@pytest.mark.parametrize("command", [["predict", "{run}", "--text", "hi"], ["evaluate", "{run}"], ["export", "{run}"]])
def test_paths_that_are_not_runs(command: list[str], run_copy: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run_copy, unfinished)
    (unfinished / "weights.safetensors").unlink()
    cases = {run_copy / "labels.json": "is a file, not a run directory",
             empty: "is not a run directory: spec.yaml is missing",
             unfinished: "is an unfinished run: weights.safetensors is missing",
             tmp_path / "nowhere": "does not exist"}
    for path, message in cases.items():
        result = CliRunner().invoke(cli, [str(path) if a == "{run}" else a for a in command])
        assert result.exit_code == 2, (path, result.output)
        assert message in result.output and str(path) in result.output


@pytest.fixture(scope="module")
def tabular_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose encoder learned its preprocessing (standardisation, a vocabulary) from the data."""
    pytest.importorskip("mmfusion_tabular")
    from mmfusion_tabular.data import make_tabular_dataset

    from mmfusion.api import fit

    folder = tmp_path_factory.mktemp("tabular-run")
    spec = {"model": {"encoders": {"table": {"type": "tabular", "numeric": ["size"], "categorical": ["shop"]}},
                      "fusion": {"type": "concat", "projection_dim": 8}, "head": {"type": "linear"}},
            "data": {"source": {"type": "csv", "train": str(make_tabular_dataset(folder, n=60))},
                     "columns": {"table": ["size", "shop"]}, "split": {"validation": 0.2, "test": 0.2}},
            "train": {"epochs": 1, "batch_size": 16, "cache_dir": str(folder / "cache")}}
    return fit(spec, out=folder / "run").run_dir


def test_learned_preprocessing_missing_or_damaged_is_named(tabular_run: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(tabular_run, tmp_path / "run"))
    learned = json.loads((run / "preprocessing.json").read_text())
    (run / "preprocessing.json").unlink()
    with pytest.raises(MMFusionError, match=r"preprocessing.json is missing: encoder 'tabular' learned its "
                                            r"preprocessing .* without it predictions would be wrong"):
        load_run(run)
    (run / "preprocessing.json").write_text(json.dumps({"table": {**learned["table"], "categorical": {"shop": 5}}}))
    with pytest.raises(MMFusionError, match=r"preprocessing.json: the 'table' entry does not fit encoder 'tabular' "
                                            r"\(TypeError"):
        load_run(run)
    (run / "preprocessing.json").write_text(json.dumps(learned))
    assert load_run(run).model.encoders["table"].preprocessing_state() == learned["table"]
