"""examples/benchmarks/: each benchmark recipe validates as written (offline: its Hub ids are only read when the
model is built) and, with tiny local models in place of its checkpoints and a few rows of stand-in data in the
layout docs/benchmarks.md describes, reads its data and builds with the head its task needs."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import EXAMPLES

BENCHMARKS = EXAMPLES / "benchmarks"

MMIMDB_GENRES = ["Drama", "Comedy", "Romance", "Thriller", "Crime", "Action", "Adventure", "Horror", "Documentary",
                 "Mystery", "Sci-Fi", "Fantasy", "Family", "Biography", "War", "History", "Music", "Animation",
                 "Musical", "Western", "Sport", "Short", "Film-Noir"]
WORDS = "the a movie dish page recipe love war crime family space ghost meme text funny sweet fried".split()


def _image(path: Path, rng: random.Random) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (24, 32), tuple(rng.randrange(256) for _ in range(3))).save(path)


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))


README = BENCHMARKS / "README.md"


def _convert(section: str, folder: Path) -> None:
    """Run the conversion command that examples/benchmarks/README.md gives under `## {section}`, in folder."""
    import os
    import re

    text = README.read_text(encoding="utf-8").split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"python - <<'PY'\n(.*?)\nPY\n", text, flags=re.S) or re.search(r'python -c "(.*?)"\n', text)
    assert found, f"no conversion command under ## {section} in {README}"
    here = os.getcwd()
    os.chdir(folder)
    try:
        exec(compile(found.group(1), f"README.md ({section})", "exec"), {})
    finally:
        os.chdir(here)


def _mmimdb_data(root: Path, rng: random.Random) -> None:
    """The release (split.json, dataset/<id>.json and <id>.jpeg), converted as the README says to
    mmimdb/{train,dev,test}.csv with image,text,genres ('|'-joined)."""
    folder = root / "mmimdb"
    split: dict[str, list[str]] = {}
    for name, n in (("train", 12), ("dev", 4), ("test", 4)):
        split[name] = [f"{len(split) * 100 + i:07d}" for i in range(n)]
        for i, movie in enumerate(split[name]):
            _image(folder / "dataset" / f"{movie}.jpeg", rng)
            genres = rng.sample(MMIMDB_GENRES, rng.randint(1, 3)) + (["News"] if i % 3 == 0 else [])
            meta = {"plot": [_text(rng), _text(rng)], "genres": genres if i != 1 else ["Talk-Show"]}
            (folder / "dataset" / f"{movie}.json").write_text(json.dumps(meta), encoding="utf-8")
    (folder / "split.json").write_text(json.dumps(split), encoding="utf-8")
    _convert("MM-IMDb", root)


def _hateful_memes_data(root: Path, rng: random.Random) -> None:
    """The release's JSONL files (id, img, label, text) and img/*.png, converted to CSV as the README says."""
    folder = root / "hateful_memes"
    meme = 10000
    for split, n in (("train", 12), ("dev_seen", 6), ("test_seen", 6)):
        lines = []
        for i in range(n):
            meme += 1
            _image(folder / "img" / f"{meme}.png", rng)
            lines.append(json.dumps({"id": meme, "img": f"img/{meme}.png", "label": i % 2, "text": _text(rng)}))
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _convert("Hateful Memes", root)


def _food101_data(root: Path, rng: random.Random, classes: list[str]) -> None:
    """images/<split>/<class>/<file>.jpg and texts/<split>_titles.csv (file, text, class; no header), converted
    as the README says to food101/{train,test}.csv with image,text,label."""
    import pandas as pd

    folder = root / "food101"
    for split, n in (("train", 20), ("test", 6)):
        rows = []
        for i in range(n):
            label = classes[i % 4]
            _image(folder / "images" / split / label / f"{label}_{i}.jpg", rng)
            rows.append((f"{label}_{i}.jpg", _text(rng), label))
        (folder / "texts").mkdir(exist_ok=True)
        pd.DataFrame(rows).to_csv(folder / "texts" / f"{split}_titles.csv", header=False, index=False)
    _convert("UPMC Food-101", root)


RECIPES = {
    # name: (task, outputs, monitor, encoder types as written)
    "mmimdb": ("multilabel", 23, "val_micro_f1",
               {"image": ("hf_image", "google/vit-base-patch16-224-in21k"), "text": ("hf_text", "bert-base-uncased")}),
    "hateful_memes": ("binary", 1, "val_auroc",
                      {"image": ("hf_image", "openai/clip-vit-base-patch32"),
                       "text": ("hf_text", "openai/clip-vit-base-patch32")}),
    "food101": ("multiclass", 101, "val_accuracy",
                {"image": ("torchvision_resnet", None), "text": ("hf_text", "bert-base-uncased")}),
}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_validates_as_written(name: str) -> None:
    from mmfusion.spec import load_spec

    task, _, monitor, encoders = RECIPES[name]
    spec = load_spec(BENCHMARKS / f"{name}.yaml")
    assert spec.data.task == task and spec.train.monitor == monitor
    assert {k: (e.type, getattr(e, "path", None)) for k, e in spec.model.encoders.items()} == encoders
    if name == "mmimdb":
        assert spec.data.labels == MMIMDB_GENRES and spec.data.label_sep == "|"
    if name == "hateful_memes":
        assert spec.data.labels == ["0", "1"] and spec.data.positive_label == "1"
    if name == "food101":
        labels = spec.data.labels
        assert len(labels) == len(set(labels)) == 101 and labels == sorted(labels)
        assert {"apple_pie", "waffles", "pho", "ramen", "sushi"} <= set(labels)
        assert spec.model.encoders["image"].arch == "resnet50" and spec.model.encoders["image"].pretrained


def _stand_in(name: str, folder: Path, tiny_bert: Path, vision: dict[str, Path], cache: Path) -> Path:
    """The recipe with tiny local models and stand-in data in its layout, written next to that data."""
    text: dict[str, Any] = yaml.safe_load((BENCHMARKS / f"{name}.yaml").read_text(encoding="utf-8"))
    rng = random.Random(0)
    encoders = text["model"]["encoders"]
    if name == "mmimdb":
        _mmimdb_data(folder, rng)
        encoders["image"]["path"] = str(vision["vit"])
        encoders["text"]["path"] = str(tiny_bert)
    elif name == "hateful_memes":
        _hateful_memes_data(folder, rng)
        encoders["image"]["path"] = encoders["text"]["path"] = str(vision["clip"])
    else:
        _food101_data(folder, rng, text["data"]["labels"])
        encoders["image"].update(pretrained=False, image_size=32)  # resnet50, randomly initialised
        encoders["text"]["path"] = str(tiny_bert)
    text["train"].update(epochs=1, batch_size=4, cache_dir=str(cache))
    spec = folder / f"{name}.yaml"
    spec.write_text(yaml.safe_dump(text, sort_keys=False), encoding="utf-8")
    return spec


@pytest.fixture(scope="module")
def vision(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from mmfusion.testing.tiny_models import write_tiny_vision_model

    root = tmp_path_factory.mktemp("vision")
    return {kind: write_tiny_vision_model(root / kind, kind) for kind in ("vit", "clip")}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_reads_its_data_layout_and_builds(name: str, tmp_path: Path, tiny_bert: Path,
                                                 vision: dict[str, Path]) -> None:
    from click.testing import CliRunner

    from mmfusion.cli import cli
    from mmfusion.data.tables import load_prepared_tables
    from mmfusion.spec import load_spec

    task, outputs, _, _ = RECIPES[name]
    spec_path = _stand_in(name, tmp_path, tiny_bert, vision, tmp_path / "cache")
    spec = load_spec(spec_path)
    prepared = load_prepared_tables(spec.data)
    assert prepared.task == task and {"train", "validation", "test"} <= set(prepared.tables)
    assert set(prepared.labels) <= set(spec.data.labels)  # the data's labels are among those the spec lists
    if name == "mmimdb":  # genres outside the 23 are dropped; a movie with none of them has no label
        genres = prepared.tables["train"]["genres"].tolist()
        assert "|" in genres and not any("News" in g or "Talk-Show" in g for g in genres)
    result = CliRunner().invoke(cli, ["build", str(spec_path), "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["classes_from"] == ("data.task: binary (one logit)" if task == "binary" else "data.labels")
    assert report["forward"]["logits_shape"] == [4, outputs]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_trains_an_epoch_on_stand_in_data(name: str, tmp_path: Path, tiny_bert: Path,
                                                 vision: dict[str, Path]) -> None:
    from mmfusion import fit

    task, _, monitor, _ = RECIPES[name]
    result = fit(_stand_in(name, tmp_path, tiny_bert, vision, tmp_path / "cache"), out=tmp_path / "run")
    headline = {"multilabel": "micro_f1", "binary": "auroc", "multiclass": "accuracy"}[task]
    assert headline in result.test_metrics
