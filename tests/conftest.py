"""Shared fixtures: tiny real models and data, written once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the suite never downloads anything
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised BERT folder (config, weights, tokenizer), made offline."""
    from mmfusion.testing.tiny_models import write_tiny_bert

    return write_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.fixture
def registry():  # type: ignore[no-untyped-def]
    from mmfusion.registry import get_registry

    return get_registry()


def write_spec(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def noise_pictures(csv_path: Path, folder: Path) -> Path:
    """The same rows with every picture replaced by grey noise: the texts and labels stay."""
    import csv

    import numpy as np
    from PIL import Image

    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    rng = np.random.default_rng(0)
    (folder / "noise").mkdir(parents=True)
    for i, row in enumerate(rows):
        picture = folder / "noise" / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).convert("RGB").save(picture)
        row["image"] = str(picture)
    out = folder / "noise.csv"
    with out.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


XOR_SPEC = """\
model:
  encoders:
    image: {{type: timm, model_name: test_efficientnet, image_size: 32, freeze: {freeze}}}
    text: {{type: hf_text, path: {bert}, freeze: {freeze}, pooling: mean}}
  fusion: {fusion}
  head: {{type: mlp, hidden_dims: [32], dropout: 0.0}}
data:
  source: {{type: csv, train: {csv}}}
  split: {{validation: 0.2, test: 0.2}}
train:
  epochs: {epochs}
  batch_size: 16
  lr: 0.01
  warmup: 0.0
  cache_dir: {cache}
"""


@pytest.fixture(scope="session")
def xor_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 rows where label = XOR(image colour, text keyword): each modality alone is at chance."""
    from mmfusion.testing.data import make_xor_dataset

    return make_xor_dataset(tmp_path_factory.mktemp("xor"), n=300)


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("feature-cache")


def xor_spec(folder: Path, csv: Path, bert: Path, cache: Path, *, epochs: int = 12, freeze: bool = True,
             fusion: str = "{type: concat, projection_dim: 32}", name: str = "spec.yaml", extra: str = "") -> Path:
    text = XOR_SPEC.format(freeze=str(freeze).lower(), bert=bert, fusion=fusion, csv=csv, epochs=epochs, cache=cache)
    return write_spec(folder, text + extra, name)


@pytest.fixture(scope="session")
def xor_run(xor_data: Path, tiny_bert: Path, feature_cache: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore
    """One trained image + text run on the XOR data, shared by the tests that only read it."""
    from mmfusion.api import fit

    folder = tmp_path_factory.mktemp("xor-run")
    return fit(xor_spec(folder, xor_data, tiny_bert, feature_cache), out=folder / "run")


# A test that uses one of these fixtures reads a run trained for it: it is slow like the training itself.
TRAINED_RUN_FIXTURES = {"xor_run"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if TRAINED_RUN_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _training_tests_are_marked_slow(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep `-m "not slow"` fast: a test that trains in this process without the `slow` mark fails at once."""
    if request.node.get_closest_marker("slow") is not None:
        return
    from mmfusion.training import trainer

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{request.node.nodeid} trains a model: mark it @pytest.mark.slow")

    monkeypatch.setattr(trainer, "fit_loop", refuse)
