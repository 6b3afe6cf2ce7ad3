"""A catalogue of bad inputs and faults, each run through the ``mmfusion`` command line in its own process.

For every case: the exit status is 2 (130 for Ctrl-C; 0 where the fault is healed with a warning), there is
no traceback and no "internal error", the message names the culprit (file, line, key or column), and no
partial file is left behind (no temporary file anywhere in the case's folder, no output that should not
exist). Commands run in children forked from one warm server (see cli_forkserver.py), so the catalogue
pays the interpreter and library start-up once.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..conftest import xor_spec

pytestmark = pytest.mark.slow

SERVER = Path(__file__).with_name("cli_forkserver.py")


class CliServer:
    """Client of the fork server: ``run(argv, cwd=...)`` → exit code, stdout, stderr."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, bufsize=1)
        ready = self.process.stdout.readline()  # type: ignore[union-attr]
        if not ready.strip().startswith("{"):
            raise RuntimeError(f"the CLI fork server did not start: {ready!r}")

    def run(self, argv: list[str], *, cwd: Path, env: dict[str, str | None] | None = None, fsize: int | None = None,
            timeout: float = 300, interrupt_when_exists: Path | None = None) -> dict:
        request = {"argv": argv, "cwd": str(cwd), "env": env or {}, "fsize": fsize, "timeout": timeout}
        if interrupt_when_exists is not None:
            request.update(signal_after=timeout - 10, signal_when_exists=str(interrupt_when_exists))
        self.process.stdin.write(json.dumps(request) + "\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        return json.loads(self.process.stdout.readline())  # type: ignore[union-attr]

    def close(self) -> None:
        self.process.stdin.close()  # type: ignore[union-attr]
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def server():  # type: ignore[no-untyped-def]
    client = CliServer()
    yield client
    client.close()


@dataclass
class World:
    """What the cases start from: the case's own folder, a small dataset, a finished run, a fast spec."""

    folder: Path
    data: Path
    run: Path
    bert: Path
    cache: Path
    mounts: list[Path] = field(default_factory=list)

    def copy_run(self) -> Path:
        """The shared run as training left it: without the export/ that other tests' ONNX predictions add."""
        target = self.folder / "run"
        shutil.copytree(self.run, target, ignore=shutil.ignore_patterns("export"))
        return target

    def spec(self, *, epochs: int = 1, extra: str = "", name: str = "spec.yaml", cache: Path | None = None,
             **kwargs) -> Path:  # type: ignore[no-untyped-def]
        return xor_spec(self.folder, self.data, self.bert, cache or self.cache, epochs=epochs, extra=extra, name=name,
                        **kwargs)

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path


@dataclass
class Case:
    """One fault: ``setup`` prepares the folder and returns the command line (without ``mmfusion``)."""

    id: str
    setup: Callable[[World], list[str]]
    culprit: str  # a regex the message must match: the file, line, key or column at fault
    code: int = 2
    fsize: int | None = None
    absent: Callable[[World], list[Path]] = field(default=lambda world: [])  # outputs that must not exist
    interrupt_when: Callable[[World], Path] | None = None
    check: Callable[[World, dict], None] | None = None  # anything else to assert


def _train(world: World, spec: Path, out: str = "out") -> list[str]:
    return ["train", str(spec), "--out", str(world.folder / out), "--quiet"]


# ----- spec files ------------------------------------------------------------------------------------------
def _build(world: World, content: str | bytes, name: str = "spec.yaml") -> list[str]:
    return ["build", str(world.write(name, content)), "--no-forward"]


def _encoder_spec(world: World, fusion: str, head: str = "{type: linear}") -> str:
    return (f"model:\n  encoders:\n    text: {{type: hf_text, path: {world.bert}}}\n"
            f"  fusion: {fusion}\n  head: {head}\n")


BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{b}: &{b} [{','.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))

SPEC_CASES = [
    Case("spec-duplicate-key",
         lambda w: _build(w, "model:\n  encoders:\n    text: {type: hf_text, path: x}\n  fusion:\n    type: concat\n"
                             "    type: attention\n"),
         r"spec\.yaml:6: model\.fusion\.type: duplicate key \(first at line 5\)"),
    Case("spec-alias-bomb", lambda w: _build(w, BOMB), r"spec\.yaml:9: alias \*h expands to"),
    Case("spec-self-referring-alias",
         lambda w: _build(w, "model: &m\n  encoders: {text: {type: hf_text, path: x}}\n  again: *m\n"),
         r"spec\.yaml:3: alias \*m"),
    Case("spec-binary", lambda w: _build(w, b"\x89PNG\r\n\x1a\n\x00\x00"), r"spec\.yaml:1: not UTF-8 text"),
    Case("spec-latin-1", lambda w: _build(w, b"model:\n  encoders:\n    text: {type: hf_text, path: caf\xe9}\n"),
         r"spec\.yaml:3: not UTF-8 text \(byte 0xe9"),
    Case("spec-is-a-directory", lambda w: ["build", str((w.folder / "specs").resolve()), "--no-forward"]
         if (w.folder / "specs").mkdir() is None else [], r"specs is a directory"),
    Case("spec-empty", lambda w: _build(w, ""), r"spec\.yaml: the file is empty"),
    Case("spec-top-level-list", lambda w: _build(w, "- a\n- b\n"), r"spec\.yaml.*got a list"),
    Case("spec-number-key", lambda w: _build(w, "1: x\n"), r"spec\.yaml:1: .*'1' is read as a number"),
    Case("spec-tab-indent", lambda w: _build(w, "model:\n\tencoders: {}\n"), r"spec\.yaml:2: .*indent with spaces"),
    Case("spec-python-tag", lambda w: _build(w, "model: !!python/object/apply:os.system [echo]\n"),
         r"spec\.yaml:1: model: the YAML tag !!python/object/apply:os\.system is not allowed"),
    Case("spec-bad-int-tag", lambda w: _build(w, "model: {fusion: {dim: !!int abc}}\n"),
         r"spec\.yaml:1: .*cannot read 'abc' as !!int"),
    Case("spec-two-documents", lambda w: _build(w, "model: 1\n---\nmodel: 2\n"), r"spec\.yaml:2: .*more than one"),
    Case("spec-unknown-fusion", lambda w: _build(w, _encoder_spec(w, "{type: atention}")),
         r"spec\.yaml:4: model\.fusion\.type: unknown fusion 'atention' — did you mean 'attention'"),
    Case("spec-absurd-attention-dim",
         lambda w: _build(w, _encoder_spec(w, "{type: attention, dim: 100000000, num_heads: 4}")),
         r"model\.fusion \(attention\): cannot build it.*dim: 100000000"),
    Case("spec-absurd-head-width",
         lambda w: _build(w, _encoder_spec(w, "concat", "{type: mlp, hidden_dims: [1000000000]}")),
         r"model\.head \(mlp\): cannot build it.*hidden_dims: \[1000000000\]"),
    Case("spec-absurd-nested-fusion",
         lambda w: _build(w, _encoder_spec(w, "{type: missing_modality, inner: {type: attention, dim: 100000000, "
                                               "num_heads: 4}}")),
         r"model\.fusion\.inner \(attention\): cannot build it"),
    Case("sweep-duplicate-key",
         lambda w: ["ablate", str(w.write("sweep.yaml", f"base: {w.spec()}\nseeds: [0]\nseeds: [1]\n")), "--out",
                    str(w.folder / "sweep-out")],
         r"sweep\.yaml:3: seeds: duplicate key \(first at line 2\)", absent=lambda w: [w.folder / "sweep-out"]),
    Case("sweep-alias-bomb", lambda w: ["ablate", str(w.write("sweep.yaml", BOMB))], r"sweep\.yaml:9: alias \*h"),
]

# ----- outputs: user paths that cannot be written -----------------------------------------------------------
OUTPUT_CASES = [
    Case("predict-output-is-a-folder",
         lambda w: ["predict", str(w.run), "--text", "alpha", "--output", str(w.folder)],
         r"--output .* is a folder"),
    Case("predict-output-under-a-file",
         lambda w: ["predict", str(w.run), "--text", "alpha", "--output",
                    str(w.write("file.txt", "x") / "preds.json")],
         r"file\.txt is a file, not a folder"),
    Case("predict-output-dev-full",
         lambda w: ["predict", str(w.run), "--text", "alpha", "--output", "/dev/full"],
         r"/dev/full: No space left on device"),
    Case("predict-csv-output-file-size-limit",
         lambda w: ["predict", str(w.run), "--csv", str(w.data), "--output", str(w.folder / "preds.csv")],
         r"preds\.csv: File too large", fsize=2000, absent=lambda w: [w.folder / "preds.csv"]),
    Case("schema-output-dev-full", lambda w: ["schema", "--output", "/dev/full"], r"/dev/full: No space left"),
    Case("train-out-is-an-existing-file",
         lambda w: ["train", str(w.spec()), "--out", str(w.write("taken", "x")), "--quiet"],
         r"taken is an existing file"),
    Case("train-disk-full-while-writing-the-run",
         lambda w: _train(w, w.spec()), r"out/\S+: File too large", fsize=30_000,
         absent=lambda w: [w.folder / "out" / "weights.safetensors"]),
    Case("evaluate-report-into-a-file",
         lambda w: ["evaluate", str(w.run), "--out", str(w.write("report", "x")), "--quiet"],
         r"report is an existing file"),
    Case("export-onto-dev-full-size-limit",
         lambda w: ["export", str(w.copy_run()), "--format", "torchscript", "--no-verify", "--out",
                    str(w.folder / "m.pt")],
         r"m\.pt: File too large", fsize=50_000, absent=lambda w: [w.folder / "m.pt"]),
]


def _mounted(world: World, name: str, options: str) -> Path:
    """A small tmpfs (read-only, or tiny so it fills up): real EROFS / ENOSPC, as root can write anywhere else."""
    target = world.folder / name
    target.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    world.mounts.append(target)
    return target


MOUNT_CASES = [
    Case("train-into-a-read-only-folder",
         lambda w: _train(w, w.spec(), out=str(_mounted(w, "ro", "ro,size=1m") / "run")),
         r"ro/run: Read-only file system"),
    Case("evaluate-report-into-a-read-only-folder",
         lambda w: ["evaluate", str(w.run), "--out", str(_mounted(w, "ro", "ro,size=1m") / "eval"), "--quiet"],
         r"ro/eval\S*: Read-only file system"),
    Case("train-onto-a-full-disk",
         lambda w: _train(w, w.spec(), out=str(_mounted(w, "full", "size=48k") / "run")),
         r"full/run/\S+: No space left on device"),
    Case("feature-cache-on-a-full-disk",  # heals: computed without the cache this time, with a warning
         lambda w: _train(w, w.spec(cache=_mounted(w, "full", "size=16k"))),
         r"feature cache \S*full/features/\S+ cannot be written .*No space left on device", code=0,
         check=lambda w, result: _finished(w.folder / "out")),
]

# ----- data files and cells: what is wrong is named (file, line, column) ------------------------------------
def _table(w: World, name: str, edit=None, *, fmt: str = "csv") -> Path:  # type: ignore[no-untyped-def]
    """The world's data with absolute image paths, changed by ``edit``, written to the case folder as ``name``."""
    import pandas as pd

    table = pd.read_csv(w.data, dtype=str, keep_default_na=False)
    table["image"] = [str(w.data.parent / p) for p in table["image"]]
    if edit is not None:
        edit(table)
    path = w.folder / name
    if fmt == "parquet":
        table.to_parquet(path)
    else:
        table.to_csv(path, index=False)
    return path


def _spec_for(w: World, csv: Path, data_options: str = "") -> Path:
    """The world's fast spec reading ``csv``, with extra ``data:`` options (e.g. ``on_bad_value: {image: absent}``)."""
    spec = xor_spec(w.folder, csv, w.bert, w.cache, epochs=1)
    if data_options:
        spec.write_text(spec.read_text(encoding="utf-8").replace("  split:", f"  {data_options}\n  split:"),
                        encoding="utf-8")
    return spec


def _not_utf8(w: World) -> Path:
    lines = w.data.read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4].replace(",", ",caf\xe9 ", 1)  # line 5: a Latin-1 é in the text cell
    path = w.folder / "latin.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return path


def _header_only(w: World) -> Path:
    return w.write("header.csv", "image,text,label\n")


def _repeated_column(w: World) -> Path:
    lines = w.data.read_text(encoding="utf-8").splitlines()
    rows = [lines[0].replace("text", "text,text")] + [line.replace(",", ",extra,", 1) for line in lines[1:]]
    return w.write("dup.csv", "\n".join(rows) + "\n")


def _nan_label(table) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    table["label"] = [float(v == "same") for v in table["label"]]
    table.loc[4, "label"] = np.nan


def _cut_png(path: Path) -> None:
    """Halve a PNG's pixel data, checksums kept right: Image.verify() passes, decoding fails."""
    data = path.read_bytes()
    at = data.index(b"IDAT") - 4
    length = struct.unpack(">I", data[at:at + 4])[0]
    pixels = data[at + 8:at + 8 + length][:length // 2]
    chunk = struct.pack(">I", len(pixels)) + b"IDAT" + pixels + struct.pack(">I", zlib.crc32(b"IDAT" + pixels))
    path.write_bytes(data[:at] + chunk + data[at + 12 + length:])


def _damaged_images(w: World) -> tuple[Path, Path]:
    import numpy as np
    from PIL import Image

    folder = w.folder / "img"
    folder.mkdir(exist_ok=True)
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    png, jpg = folder / "cut.png", folder / "cut.jpg"
    noise.save(png)
    noise.save(jpg, quality=90)
    _cut_png(png)
    jpg.write_bytes(jpg.read_bytes()[:jpg.stat().st_size // 2])
    return png, jpg


def _with_damaged(w: World) -> Path:
    png, jpg = _damaged_images(w)

    def edit(table) -> None:  # type: ignore[no-untyped-def]
        table.loc[1, "image"], table.loc[2, "image"] = str(png), str(jpg)  # lines 3 and 4

    return _table(w, "damaged.csv", edit)


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IEND", b""))


def _image_cell(w: World, name: str, make) -> Path:  # type: ignore[no-untyped-def]
    """The data with line 3's image cell naming what ``make(path)`` creates."""
    target = w.folder / name
    make(target)

    def edit(table) -> None:  # type: ignore[no-untyped-def]
        table.loc[1, "image"] = str(target)

    return _table(w, "cells.csv", edit)


def _bad_values_counted(w: World, result: dict) -> None:
    summary = json.loads((w.folder / "out" / "summary.json").read_text(encoding="utf-8"))
    assert sum(s["bad_values_as_absent"].get("image", 0) for s in summary["data"].values()) == 2, summary["data"]
    assert "treated as absent" in result["stderr"]


def _unlabelled_noted(w: World, result: dict) -> None:
    summary = json.loads((w.folder / "out" / "summary.json").read_text(encoding="utf-8"))
    assert any("left out 2 line(s) of blank.csv with an empty label (lines 3, 5" in n for n in summary["notes"])


def _blank_labels(table) -> None:  # type: ignore[no-untyped-def]
    table.loc[[1, 3], "label"] = ""  # lines 3 and 5


DATA_CASES = [
    Case("train-csv-not-utf8", lambda w: _train(w, _spec_for(w, _not_utf8(w))),
         r"latin\.csv is not UTF-8 text: line 5 has the byte 0xe9"),
    Case("train-csv-header-only", lambda w: _train(w, _spec_for(w, _header_only(w))),
         r"header\.csv has a header \(image, text, label\) but no rows"),
    Case("train-csv-empty-file", lambda w: _train(w, _spec_for(w, w.write("empty.csv", ""))),
         r"empty\.csv is empty \(0 bytes\)"),
    Case("train-csv-repeated-column", lambda w: _train(w, _spec_for(w, _repeated_column(w))),
         r"dup\.csv: repeated column name\(s\) in the header: 'text' \(columns 2, 3\)"),
    Case("train-parquet-garbage", lambda w: _train(w, _spec_for(w, w.write("garbage.parquet", "a,b\n1,2\n"))),
         r"cannot read \S*garbage\.parquet as parquet"),
    Case("train-empty-labels", lambda w: _train(w, _spec_for(w, _table(w, "blank.csv", _blank_labels))),
         r"blank\.csv: 2 line\(s\) have an empty label \(column 'label', lines 3, 5\)"),
    Case("train-nan-label-in-parquet",
         lambda w: _train(w, _spec_for(w, _table(w, "nan.parquet", _nan_label, fmt="parquet"))),
         r"nan\.parquet: 1 row\(s\) have an empty label \(column 'label', rows 4\)"),
    Case("train-label-column-all-empty",
         lambda w: _train(w, _spec_for(w, _table(w, "nolabels.csv", lambda t: t.__setitem__("label", "")))),
         r"nolabels\.csv: column 'label' holds no labels"),
    Case("train-unlabelled-drop-heals",
         lambda w: _train(w, _spec_for(w, _table(w, "blank.csv", _blank_labels), "unlabelled: drop")),
         r"^", code=0, check=_unlabelled_noted),
    Case("evaluate-data-empty-labels",
         lambda w: ["evaluate", str(w.run), "--data", str(_table(w, "blank.csv", _blank_labels)), "--out",
                    str(w.folder / "report"), "--quiet"],
         r"blank\.csv: 2 line\(s\) have an empty label .*lines 3, 5",
         absent=lambda w: [w.folder / "report"]),
    Case("evaluate-data-not-utf8",
         lambda w: ["evaluate", str(w.run), "--data", str(_not_utf8(w)), "--out", str(w.folder / "report"),
                    "--quiet"],
         r"latin\.csv is not UTF-8 text: line 5"),
    Case("predict-csv-header-only", lambda w: ["predict", str(w.run), "--csv", str(_header_only(w))],
         r"header\.csv has a header \(image, text, label\) but no rows"),
    Case("train-image-cell-is-a-folder",
         lambda w: _train(w, _spec_for(w, _image_cell(w, "photos", lambda p: p.mkdir()))),
         r"cells\.csv line 3 \(column 'image'\): \S*photos is a directory, not an image file"),
    Case("train-image-cell-not-an-image",
         lambda w: _train(w, _spec_for(w, _image_cell(w, "fake.png", lambda p: p.write_text("<html>")))),
         r"cells\.csv line 3 \(column 'image'\): image file \S*fake\.png is not an image Pillow can read"),
    Case("train-image-decompression-bomb",
         lambda w: _train(w, _spec_for(w, _image_cell(w, "huge.png",
                                                       lambda p: p.write_bytes(_png_header(20_000, 10_000))))),
         r"cells\.csv line 3 \(column 'image'\): image file \S*huge\.png is too large to decode safely"),
    Case("train-images-truncated-after-header",
         lambda w: _train(w, _spec_for(w, _with_damaged(w))),
         r"damaged\.csv.* line [34] \(column 'image'\): image file \S*cut\.(png|jpg) is truncated or damaged"),
    Case("train-images-truncated-absent-heals",
         lambda w: _train(w, _spec_for(w, _with_damaged(w), "on_bad_value: {image: absent}")),
         r"treated as absent", code=0, check=_bad_values_counted),
    Case("evaluate-data-truncated-image",
         lambda w: ["evaluate", str(w.run), "--data", str(_with_damaged(w)), "--out", str(w.folder / "report"),
                    "--quiet"],
         r"damaged\.csv line 3 \(column 'image'\): image file \S*cut\.png is truncated or damaged",
         absent=lambda w: [w.folder / "report"]),
    Case("predict-csv-truncated-image", lambda w: ["predict", str(w.run), "--csv", str(_with_damaged(w))],
         r"damaged\.csv line 3 \(column 'image'\): image file \S*cut\.png is truncated or damaged"),
    Case("predict-image-is-a-folder",
         lambda w: ["predict", str(w.run), "--image", str(w.folder), "--text", "alpha"],
         r"is a directory, not an image file"),
    Case("predict-image-truncated",
         lambda w: ["predict", str(w.run), "--image", str(_damaged_images(w)[1]), "--text", "alpha"],
         r"cut\.jpg is truncated or damaged"),
]

# ----- damaged run directories and feature caches -----------------------------------------------------------
def _damaged_run(world: World, damage: Callable[[Path], object]) -> Path:
    run = world.copy_run()
    damage(run)
    return run


def _predict(world: World, damage: Callable[[Path], object], *extra: str) -> list[str]:
    return ["predict", str(_damaged_run(world, damage)), "--text", "alpha", *extra]


def _edit_spec(run: Path, old: str, new: str) -> None:
    _edit(run / "spec.yaml", old, new)


def _copied_cache(world: World, damage: Callable[[Path], object]) -> Path:
    """A private copy of the shared feature cache (never damage the shared one), damaged by ``damage``."""
    cache = world.folder / "cache"
    shutil.copytree(world.cache, cache)
    damage(cache)
    return cache


def _shards(cache: Path, suffix: str) -> list[Path]:
    """Every shard file of the cache: other tests add encoders to the shared cache, and which folder sorts first
    (a hash) changes from session to session, so damaging only one may miss the encoders a case trains."""
    return sorted(cache.glob(f"features/*/shard-*{suffix}"))


def _other_bert(world: World) -> Path:
    """A copy of the run's frozen text model with one weight changed: another version of the same model."""
    from safetensors.torch import load_file, save_file

    other = Path(shutil.copytree(world.bert, world.folder / "other-bert"))
    state = load_file(str(other / "model.safetensors"))
    state["embeddings.word_embeddings.weight"][0, 0] += 1
    save_file(state, str(other / "model.safetensors"))
    return other


FROZEN = r"the frozen weights of encoder 'text' \(hf_text\) are not in weights\.safetensors; the run refers to them"

RUN_CASES = [
    Case("labels-json-too-long", lambda w: _predict(w, lambda r: (r / "labels.json").write_text(
        '["different", "same", "extra"]')), r"labels\.json lists 3 labels but the weights were trained for 2 classes"),
    Case("labels-json-duplicates", lambda w: _predict(w, lambda r: (r / "labels.json").write_text(
        '["same", "same"]')), r"labels\.json lists 'same' twice"),
    Case("labels-json-nested", lambda w: _predict(w, lambda r: (r / "labels.json").write_text('[["a"], ["b"]]')),
         r"labels\.json: entry 0 is a list"),
    Case("labels-json-binary", lambda w: _predict(w, lambda r: (r / "labels.json").write_bytes(b"\x00\xff")),
         r"labels\.json is corrupt: not UTF-8"),
    Case("labels-json-empty-list", lambda w: _predict(w, lambda r: (r / "labels.json").write_text("[]")),
         r"labels\.json lists no labels"),
    Case("weights-truncated",
         lambda w: ["evaluate", str(_damaged_run(w, lambda r: _truncate(r / "weights.safetensors"))), "--quiet"],
         r"weights\.safetensors is corrupt or truncated"),
    Case("weights-is-a-folder",
         lambda w: ["evaluate", str(_damaged_run(w, lambda r: ((r / "weights.safetensors").unlink(),
                                                                 (r / "weights.safetensors").mkdir()))), "--quiet"],
         r"weights\.safetensors is a folder"),
    Case("spec-edited-after-training",
         lambda w: ["export", str(_damaged_run(w, lambda r: _edit_spec(r, "projection_dim: 32", "projection_dim: 16"))),
                    "--format", "torchscript"],
         r"fusion\.\S+\.weight: weights have shape \[32, \d+\], the spec's model has \[16, \d+\]",
         absent=lambda w: [w.folder / "run" / "export"]),
    Case("inputs-json-garbage", lambda w: _predict(w, lambda r: (r / "inputs.json").write_text("{{{")),
         r"inputs\.json is not valid JSON"),
    Case("inputs-json-unknown-input",
         lambda w: _predict(w, lambda r: (r / "inputs.json").write_text('{"columns": {"audio": ["a"]}}')),
         r"inputs\.json names input 'audio'"),
    Case("summary-json-garbage-is-a-warning", lambda w: _predict(w, lambda r: (r / "summary.json").write_text("{{{")),
         r"summary\.json is not valid JSON", code=0),
    Case("run-path-is-a-file", lambda w: ["predict", str(w.run / "labels.json"), "--text", "alpha"],
         r"labels\.json is a file, not a run directory"),
    Case("run-path-is-an-empty-folder", lambda w: ["evaluate", str(w.write("empty/.keep", "").parent), "--quiet"],
         r"empty is not a run directory: spec\.yaml is missing"),
    Case("frozen-weights-changed",
         lambda w: ["evaluate", str(_damaged_run(w, lambda r: _edit_spec(r, str(w.bert), str(_other_bert(w))))),
                    "--quiet"], FROZEN + r" .*digest [0-9a-f]{32}.* have digest [0-9a-f]{32}: they are not the ones"),
    Case("frozen-weights-do-not-resolve",
         lambda w: _predict(w, lambda r: _edit_spec(r, str(w.bert), str(w.folder / "gone"))),
         FROZEN + r" .*digest [0-9a-f]{32}.*They cannot be loaded here .*gone"),
    Case("frozen-weights-record-missing", lambda w: _predict(w, lambda r: (r / "frozen_weights.json").unlink()),
         r"frozen_weights\.json is missing, and weights\.safetensors leaves out"),
    Case("run-without-weights",
         lambda w: ["evaluate", str(_damaged_run(w, lambda r: (r / "weights.safetensors").unlink())), "--quiet"],
         r"is an unfinished run: weights\.safetensors is missing"),
    Case("onnx-export-garbage-is-rebuilt",
         lambda w: _predict(w, lambda r: ((r / "export").mkdir(), (r / "export" / "model.onnx").write_text("garbage"),
                                          (r / "export" / "model.onnx.json").write_text(json.dumps(
                                              {"labels": ["different", "same"],
                                               "inputs": [{"name": "text.input_ids"}]}))), "--backend", "onnx"),
         r"export/model\.onnx is corrupt or truncated", code=0),
    Case("feature-cache-truncated-shard-is-recomputed",
         lambda w: _train(w, w.spec(cache=_copied_cache(w, lambda c: [_truncate(s)
                                                                      for s in _shards(c, ".safetensors")]))),
         r"feature cache: dropped shard \S*shard-\S+", code=0, check=lambda w, result: _finished(w.folder / "out")),
    Case("feature-cache-garbage-listing-is-recomputed",
         lambda w: _train(w, w.spec(cache=_copied_cache(w, lambda c: [s.write_text("garbage")
                                                                      for s in _shards(c, ".json")]))),
         r"shard-\S+\.json is unreadable", code=0, check=lambda w, result: _finished(w.folder / "out")),
    Case("feature-cache-is-a-file",
         lambda w: _train(w, w.spec(cache=w.write("cachefile", "x"))),
         r"cachefile is a file, not a folder\): features are computed without caching", code=0,
         check=lambda w, result: _finished(w.folder / "out")),
]

# ----- resuming and locking a run ----------------------------------------------------------------------------
def _finished(run: Path) -> None:
    assert (run / "summary.json").exists() and (run / "weights.safetensors").exists()
    assert not (run / ".lock").exists()


def _resume(world: World, damage: Callable[[Path], object], spec: Path | None = None) -> list[str]:
    """Copy the finished 12-epoch run, damage it, and resume it for a 13th epoch."""
    run = world.copy_run()
    damage(run)
    return ["train", str(spec or world.spec(epochs=13)), "--out", str(run), "--resume", "--quiet"]


def _checkpoint(run: Path) -> Path:
    return next((run / "checkpoints").glob("epoch-*"))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def _lock(run: Path, **holder: object) -> None:
    (run / ".lock").write_text(json.dumps(holder), encoding="utf-8")


def _live_pid() -> int:
    sleeper = subprocess.Popen(["sleep", "600"])
    LIVE.append(sleeper)
    return sleeper.pid


LIVE: list[subprocess.Popen] = []

RESUME_CASES = [
    Case("resume-lock-held-by-a-live-process",
         lambda w: _resume(w, lambda r: _lock(r, host=socket.gethostname(), pid=_live_pid())),
         r"run directory \S*run is in use: process \d+ on host"),
    Case("resume-lock-of-another-host",
         lambda w: _resume(w, lambda r: _lock(r, host="gpu-node-7", pid=4242)),
         r"another host, gpu-node-7.*delete \S*run/\.lock"),
    Case("resume-stale-lock-taken-over",
         lambda w: _resume(w, lambda r: _lock(r, host=socket.gethostname(), pid=_dead_pid())),
         r"took over the lock \S*run/\.lock", code=0, check=lambda w, result: _finished(w.folder / "run")),
    Case("resume-garbage-last-json",
         lambda w: _resume(w, lambda r: (r / "checkpoints" / "last.json").write_text("garbage")),
         r"\S*run/checkpoints/last\.json cannot be used", code=0,
         check=lambda w, result: _finished(w.folder / "run")),
    Case("resume-last-json-names-a-missing-folder",
         lambda w: _resume(w, lambda r: (r / "checkpoints" / "last.json").write_text('{"folder": "epoch-0099"}')),
         r"epoch-0099, is missing", code=0, check=lambda w, result: _finished(w.folder / "run")),
    Case("resume-no-complete-checkpoint",
         lambda w: _resume(w, lambda r: ((r / "checkpoints" / "last.json").write_text("garbage"),
                                         (_checkpoint(r) / "state.json").unlink())),
         r"\S*run/checkpoints/last\.json cannot be used"),
    *[Case(f"resume-truncated-{name.split('.')[0]}",
           lambda w, name=name: _resume(w, lambda r: _truncate(_checkpoint(r) / name)),
           rf"checkpoint file \S*run/checkpoints/epoch-\d+/{re.escape(name)} is truncated or corrupt")
      for name in ("model.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json")],
    Case("resume-with-an-edited-head",
         lambda w: _resume(w, lambda r: None, _edit(w.spec(epochs=13, name="edited.yaml"), "hidden_dims: [32]",
                                                    "hidden_dims: [16]")),
         r"parameter 'head\.layers\.0\.weight' has shape"),
    Case("resume-frozen-weights-changed",
         lambda w: _resume(w, lambda r: None, xor_spec(w.folder, w.data, _other_bert(w), w.cache, epochs=13,
                                                        name="other.yaml")),
         r"cannot resume: the checkpoint \S+ refers to the frozen weights of encoder 'text' \(hf_text\) with digest"),
    Case("resume-frozen-run-unfrozen",
         lambda w: _resume(w, lambda r: None, w.spec(epochs=13, freeze=False, name="unfrozen.yaml")),
         r"the model has parameter '\S+' that \S*model\.safetensors lacks; the spec differs"),
]


def _edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def _dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    probe = subprocess.Popen(["true"])
    probe.wait()
    return probe.pid


# ----- command-line values ----------------------------------------------------------------------------------
ARGUMENT_CASES = [
    Case("spec-file-missing", lambda w: ["build", str(w.folder / "nope.yaml")], r"nope\.yaml does not exist"),
    Case("predict-input-without-equals", lambda w: ["predict", str(w.run), "--input", "text"],
         r"--input expects MODALITY=VALUE, got 'text'"),
    Case("predict-csv-missing", lambda w: ["predict", str(w.run), "--csv", str(w.folder / "none.csv")],
         r"none\.csv does not exist"),
    Case("predict-run-missing", lambda w: ["predict", str(w.folder / "norun"), "--text", "x"], r"norun does not exist"),
    Case("predict-unknown-input", lambda w: ["predict", str(w.run), "--input", "audio=a.wav"], r"audio"),
    Case("evaluate-data-without-the-columns",
         lambda w: ["evaluate", str(w.run), "--data", str(w.write("other.csv", "a,b\n1,2\n")), "--quiet"],
         r"other\.csv.*(image|text|label)"),
    Case("train-resume-with-nothing-to-resume",
         lambda w: ["train", str(w.spec()), "--out", str(w.folder / "fresh"), "--resume", "--quiet"],
         r"nothing to resume"),
    Case("ablate-sweep-missing", lambda w: ["ablate", str(w.folder / "sweep.yaml")], r"sweep\.yaml"),
]


def _interrupted(world: World, result: dict) -> None:
    assert "interrupted" in result["stderr"]
    lock = world.folder / "out" / ".lock"
    assert not lock.exists(), "the run directory's lock outlived the interrupted command"


SIGNAL_CASES = [
    Case("ctrl-c-while-training", lambda w: _train(w, w.spec(epochs=30)), r"interrupted", code=130,
         interrupt_when=lambda w: w.folder / "out" / "metrics.csv", check=_interrupted),
]

CASES = SPEC_CASES + DATA_CASES + RUN_CASES + RESUME_CASES + OUTPUT_CASES + MOUNT_CASES + ARGUMENT_CASES + SIGNAL_CASES


@pytest.fixture
def world(tmp_path: Path, xor_data: Path, xor_run, tiny_bert: Path, feature_cache: Path):  # type: ignore
    folder = tmp_path / "case"
    folder.mkdir()
    world = World(folder, xor_data, Path(xor_run.run_dir), tiny_bert, feature_cache)
    yield world
    while LIVE:
        LIVE.pop().kill()
    for mount in world.mounts:
        subprocess.run(["umount", str(mount)], check=False)


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if re.search(r"\.tmp$|^\.[^/]*\.\d+\.[0-9a-f]+\.tmp$", p.name)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault_is_reported_clearly(case: Case, world: World, server: CliServer) -> None:
    argv = case.setup(world)
    interrupt = case.interrupt_when(world) if case.interrupt_when else None
    result = server.run(argv, cwd=world.folder, fsize=case.fsize, interrupt_when_exists=interrupt)
    output = result["stdout"] + result["stderr"]
    shown = f"mmfusion {' '.join(argv)}\n--- exit {result['code']}\n{output}"
    assert result["code"] == case.code, shown
    assert "Traceback" not in output and "internal error" not in output, shown
    assert re.search(case.culprit, result["stderr"]), shown
    assert _leftovers(world.folder) == [], shown
    for path in case.absent(world):
        assert not path.exists(), f"{path} should not have been written\n{shown}"
    if case.check is not None:
        case.check(world, result)


def test_the_catalogue_is_large(server: CliServer) -> None:
    assert len({c.id for c in CASES}) == len(CASES)
    assert len(CASES) >= 40, f"only {len(CASES)} cases"


# Two `train` commands into one run directory: tests/cli/test_train_lock.py (the second stops at once).
