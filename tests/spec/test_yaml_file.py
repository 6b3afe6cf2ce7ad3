"""Spec and sweep files: whatever is wrong with the YAML itself gives one located SpecError, never a crash."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmfusion.cli import cli
from mmfusion.errors import SpecError
from mmfusion.spec import load_spec
from mmfusion.sweep.spec import load_sweep

from ..conftest import write_spec

LEVELS = "abcdefghi"
BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{LEVELS[i]}: &{LEVELS[i]} [{','.join(['*' + LEVELS[i - 1]] * 9)}]\n" for i in range(1, 9))
"""Billion laughs: nine levels of nine aliases, ~300 bytes that expand to 9^9 values."""

ENCODER = "model:\n  encoders:\n    text: {type: hf_text, path: x}\n"


def _error(path: Path) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return str(info.value)


def _spec_error(tmp_path: Path, text: str) -> str:
    return _error(write_spec(tmp_path, text))


def test_duplicate_keys_at_any_depth_all_named_with_both_lines(tmp_path: Path) -> None:
    message = _spec_error(tmp_path, """\
model:
  encoders:
    text: {type: hf_text, path: x}
  fusion:
    type: concat
  head: {type: mlp, hidden_dims: [8], hidden_dims: [16]}
  fusion:
    type: attention
    type: concat
""")
    spec = tmp_path / "spec.yaml"
    assert f"{spec}:6: model.head.hidden_dims: duplicate key (first at line 6)" in message
    assert f"{spec}:7: model.fusion: duplicate key (first at line 4)" in message
    assert f"{spec}:9: model.fusion.type: duplicate key (first at line 8)" in message


def test_same_key_in_different_mappings_and_merge_overrides_are_fine(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, """\
model:
  encoders:
    text: &text {type: hf_text, path: x, max_length: 16}
    other: {<<: *text, max_length: 32}
  fusion: {type: concat}
"""))
    assert spec.model.encoders["other"].max_length == 32 and spec.model.encoders["text"].max_length == 16


def test_alias_bomb_is_refused_fast_naming_the_alias(tmp_path: Path) -> None:
    path = write_spec(tmp_path, BOMB)
    started = time.perf_counter()
    message = _error(path)
    assert time.perf_counter() - started < 0.5
    assert len(BOMB) < 400
    assert f"{path}:9: alias *h expands to" in message and "more than the 10,000 allowed" in message


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    message = _spec_error(tmp_path, "model: &m\n  encoders: {text: {type: hf_text, path: x}}\n  again: *m\n")
    assert "spec.yaml:3: alias *m is used inside the block it names (&m)" in message


def test_reused_encoder_block_still_works(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, """\
model:
  encoders:
    text: &enc {type: hf_text, path: x, pooling: mean}
    title: *enc
  fusion: concat
"""))
    assert spec.model.encoders["title"] == spec.model.encoders["text"]
    assert spec.model.encoders["title"].pooling == "mean"


@pytest.mark.parametrize("content, expected", [
    (b"\x89PNG\r\n\x1a\n\x00\x00IHDR\xff", ":1: not UTF-8 text (byte 0x89 at offset 0)"),
    (b"model:\n  encoders:\n    text: {type: hf_text, path: caf\xe9}\n", ":3: not UTF-8 text (byte 0xe9 at offset 54)"),
    (b"model: {}\n\x00\x01\x02", ":2: a NUL character (offset 10): this looks like a binary file"),
    ("model: {}\n".encode("utf-16"), "it looks UTF-16 encoded"),
])
def test_binary_or_non_utf8_file_is_named(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(content)
    message = _error(path)
    assert message.startswith(str(path)) and expected in message and "must be UTF-8 encoded YAML text" in message


def test_directory_unreadable_empty_and_too_big(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "a.yaml").write_text("model: {}\n", encoding="utf-8")
    assert _error(folder) == f"spec file {folder} is a directory; give the path of a spec YAML file (it holds a.yaml)"
    empty = write_spec(tmp_path, "# nothing yet\n", "empty.yaml")
    assert _error(empty) == f"{empty}: the file is empty; a spec file is a mapping with a `model:` section"
    locked = write_spec(tmp_path, ENCODER, "locked.yaml")

    def denied(self: Path, *args: object, **kwargs: object) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    with monkeypatch.context() as patch:
        patch.setattr(Path, "open", denied)
        assert _error(locked) == f"cannot read spec file {locked}: permission denied; check the file's permissions"
    big = tmp_path / "big.yaml"
    with big.open("wb") as out:
        out.truncate(11 * 2**20)
    assert _error(big) == f"spec file {big} is over 10 MB; a spec is a short YAML text file — is this the right file?"
    if Path("/dev/zero").exists():  # no size, no end
        assert "is over 10 MB" in _error(Path("/dev/zero"))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_for_real(tmp_path: Path) -> None:
    path = write_spec(tmp_path, ENCODER)
    path.chmod(0)
    try:
        assert "permission denied" in _error(path)
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize("text, expected", [
    ("- a\n- b\n", "spec.yaml: a spec is a mapping with a `model:` section, got a list"),
    ("hello\n", "got the text 'hello'"),
    ("1: x\n" + ENCODER, "spec.yaml:1: 1: the key '1' is read as a number, not a name; put it in quotes"),
    (ENCODER + "    null: {type: hf_text, path: y}\n", "spec.yaml:4: model.encoders.null: the key 'null' is read as "
                                                      "null"),
    ("on: 1\n" + ENCODER, "spec.yaml:1: on: the key 'on' is read as a boolean"),
    ("? [a, b]\n: x\n" + ENCODER, "spec.yaml:1: (top level): a key is a list; keys are names"),
    ("model:\n\tencoders: {}\n", "spec.yaml:2: not valid YAML:"),
    ("model: !!python/object/apply:os.system [echo]\n",
     "spec.yaml:1: model: the YAML tag !!python/object/apply:os.system is not allowed"),
    ("model: !custom x\n", "spec.yaml:1: model: the YAML tag !custom is not allowed"),
    (ENCODER + "  fusion: {type: attention, dim: !!int abc}\n",
     "spec.yaml:4: not valid YAML: cannot read 'abc' as !!int"),
    ("model: 1\n---\nmodel: 2\n", "spec.yaml:2: not valid YAML: the file holds more than one YAML document"),
    ("a: &a 1\nb: &a 2\n", "spec.yaml:2: not valid YAML: the anchor &a is defined twice (first at line 1)"),
    ("model: *m\n", "spec.yaml:1: not valid YAML: alias *m has no anchor &m before it"),
    ("[" * 3000 + "]" * 3000, "spec.yaml: nested too deeply to read"),
    ("model: \x07\n", "spec.yaml:1: not valid YAML: the character #x0007 (offset 7) is not allowed"),
])
def test_malformed_yaml_gives_a_located_spec_error(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in _spec_error(tmp_path, text)


def test_tabs_get_a_hint(tmp_path: Path) -> None:
    assert "indent with spaces" in _spec_error(tmp_path, "model:\n\tencoders: {}\n")


def test_sweep_files_get_the_same_checks(tmp_path: Path) -> None:
    sweep = write_spec(tmp_path, "base: spec.yaml\nseeds: [0]\nseeds: [1]\n", "sweep.yaml")
    with pytest.raises(SpecError, match=r"sweep.yaml:3: seeds: duplicate key \(first at line 2\)"):
        load_sweep(sweep)
    bomb = write_spec(tmp_path, BOMB, "bomb.yaml")
    with pytest.raises(SpecError, match=r"bomb.yaml:9: alias \*h expands to"):
        load_sweep(bomb)
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xd8\xff\xe0")
    with pytest.raises(SpecError, match="a sweep file must be UTF-8 encoded YAML text"):
        load_sweep(tmp_path / "binary.yaml")
    with pytest.raises(SpecError, match="sweep file .* is a directory"):
        load_sweep(tmp_path)
    with pytest.raises(SpecError, match="the file is empty; a sweep file is a mapping with `base:` and `variants:`"):
        load_sweep(write_spec(tmp_path, "", "empty.yaml"))
    with pytest.raises(SpecError, match="a sweep file is a mapping with `base:` and `variants:`, got a list"):
        load_sweep(write_spec(tmp_path, "- a\n", "list.yaml"))


@pytest.mark.parametrize("content, culprit", [
    (b"model:\n  fusion: {type: concat}\n  fusion: {type: attention}\n", "spec.yaml:3: model.fusion: duplicate key"),
    (BOMB.encode(), "spec.yaml:9: alias *h expands to"),
    (b"\x89PNG\r\n\x1a\n", "must be UTF-8 encoded YAML text"),
    (b"model: !!python/object/apply:os.system [echo]\n", "YAML tag !!python/object/apply:os.system is not allowed"),
    (b"1: x\n", "spec.yaml:1: 1: the key '1' is read as a number"),
    (b"", "the file is empty"),
])
def test_cli_build_reports_them_as_user_errors(tmp_path: Path, content: bytes, culprit: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(content)
    result = CliRunner().invoke(cli, ["build", str(path), "--no-forward"])
    assert result.exit_code == 2, result.output
    assert culprit in result.output and "internal error" not in result.output and "Traceback" not in result.output
