"""Cached augmented views of frozen encoders: K different views per value, reproducible, one picked per epoch."""

from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path

import pytest
import torch
from PIL import Image

from mmfusion.data.feature_cache import build_feature_store
from mmfusion.data.feature_views import view_choice, view_key, view_seed
from mmfusion.data.labels import LabelSet
from mmfusion.data.pipeline import build_pipeline
from mmfusion.data.tables import load_prepared_tables
from mmfusion.default_plugins.hf_text import HFTextConfig, HFTextEncoder
from mmfusion.default_plugins.modalities import ImageModality, TextModality
from mmfusion.default_plugins.timm_image import TimmConfig, TimmEncoder
from mmfusion.model.builder import build_model
from mmfusion.spec import load_spec

from ..conftest import write_spec


def _pictures(folder: Path, n: int) -> list[str]:
    """Textured pictures (a crop or a flip of a plain colour would look the same as the picture), with a fixed
    modification time: the fingerprints, and so the views' seeds, are the same in every session when the
    paths are (relative paths from the same working folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    paths = []
    for i in range(n):
        image = Image.new("RGB", (48, 36))
        image.putdata([(rng.randrange(256), rng.randrange(256), (x * 5) % 256) for _ in range(36) for x in range(48)])
        image.save(folder / f"{i}.png")
        os.utime(folder / f"{i}.png", ns=(1_700_000_000 * 10**9, 1_700_000_000 * 10**9))
        paths.append(str(folder / f"{i}.png"))
    return paths


def _build(encoder, modality, refs, cache: Path, **options):  # type: ignore[no-untyped-def]
    return build_feature_store(encoder, modality, refs, cache_dir=cache, device=torch.device("cpu"),
                               autocast=contextlib.nullcontext, batch_size=4, threads=0, **options)


def _encoder(augment: object) -> TimmEncoder:
    torch.manual_seed(0)  # the same weights each time
    return TimmEncoder(TimmConfig(model_name="test_efficientnet", image_size=32, freeze=True,
                                  augment=augment)).eval()


def test_image_views_differ_are_cached_and_view_0_is_the_clean_feature(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths: the same fingerprints, so the same views, in every session
    paths, cache = _pictures(Path("pictures"), 3), tmp_path / "cache"
    encoder, plain = _encoder({"views": 4}), _encoder(False)
    assert encoder.feature_key() == plain.feature_key()  # the clean view is shared with runs without augment
    store, positions, computed = _build(encoder, ImageModality(), paths, cache, views=4, augmented=paths[:2])
    assert computed == 3 + 2 * 3  # every value once, 3 augmented views of the 2 training values
    fps = [ImageModality().fingerprint(p) for p in paths]
    assert view_key(fps[2], 1) not in positions  # not a training value: no views
    for fp in fps[:2]:
        rows = torch.tensor([positions[fp]] + [positions[view_key(fp, v)] for v in range(1, 4)])
        pooled = store.gather(rows).pooled
        assert all(not torch.equal(pooled[a], pooled[b]) for a in range(4) for b in range(a))
    picture = ImageModality().load(paths[0])
    with torch.no_grad():  # view 2 is the encoder on the view drawn from its seed, and the same draw again
        direct = encoder(encoder.collate(encoder.preprocess_views([picture] * 2, [view_seed(fps[0], 2)] * 2)))
        clean = encoder(encoder.collate([encoder.preprocess(picture)]))
    assert torch.equal(direct.pooled[0], direct.pooled[1])
    assert torch.allclose(store.gather(torch.tensor([positions[view_key(fps[0], 2)]])).pooled[0], direct.pooled[0],
                          atol=1e-2)
    assert torch.allclose(store.gather(torch.tensor([positions[fps[0]]])).pooled[0], clean.pooled[0], atol=1e-2)

    again, _, computed = _build(encoder, ImageModality(), paths, cache, views=4, augmented=paths[:2])
    assert computed == 0 and torch.equal(again.gather(torch.arange(len(again))).pooled,
                                         store.gather(torch.arange(len(store))).pooled)
    assert _build(plain, ImageModality(), paths, cache)[2] == 0  # no augment: the clean features are there
    assert _build(_encoder({"views": 6}), ImageModality(), paths, cache, views=6, augmented=paths[:2])[2] == 2 * 2
    other = _encoder({"views": 4, "scale": [0.3, 0.5]})  # other settings: other views, the same clean view
    assert _build(other, ImageModality(), paths, cache, views=4, augmented=paths[:2])[2] == 2 * 3


def test_token_dropout_views_keep_special_tokens_and_differ_by_seed(tmp_path: Path, tiny_bert: Path) -> None:
    encoder = HFTextEncoder(HFTextConfig(path=str(tiny_bert), freeze=True, pooling="mean",
                                         augment={"views": 3, "token_dropout": 0.4})).eval()
    text = "is there a red circle in the small image shows one"
    full = encoder.preprocess(text)["input_ids"].tolist()
    views = [encoder.preprocess_views([text], [seed])[0]["input_ids"].tolist() for seed in range(6)]
    assert views[0] == encoder.preprocess_views([text], [0])[0]["input_ids"].tolist()  # a seed is one view
    assert len({tuple(v) for v in views}) > 1 and all(len(v) < len(full) for v in views[:3])
    for view in views:  # an ordered subset of the tokens, with [CLS] and [SEP] kept
        assert view[0] == full[0] and view[-1] == full[-1] and len(view) > 2
        remaining = iter(full)
        assert all(token in remaining for token in view)
    assert encoder.preprocess(text, train=False)["input_ids"].tolist() == full
    texts = ["a red circle", "what shape is in the image", "a red circle", None]
    store, positions, computed = _build(encoder, TextModality(), texts, tmp_path / "cache", views=3,
                                        augmented=texts[:2])
    assert computed == 2 + 2 * 2 and len(store) == 6


def test_each_training_epoch_reads_one_view_per_sample_picked_by_seed_and_epoch(tmp_path: Path) -> None:
    paths = _pictures(tmp_path / "pictures", 8)
    (tmp_path / "data.csv").write_text("image,label\n" + "".join(f"{p},{'ab'[i % 2]}\n" for i, p in enumerate(paths)))
    spec_text = f"""\
model:
  encoders:
    image: {{type: timm, model_name: test_efficientnet, image_size: 32, freeze: true, augment: AUGMENT}}
  fusion: {{type: concat}}
  head: {{type: linear}}
data:
  source: {{type: csv, train: {tmp_path / 'data.csv'}}}
  split: {{validation: 0.25}}
train: {{cache_dir: {tmp_path / 'cache'}}}
"""

    def pipeline(augment: str):  # type: ignore[no-untyped-def]
        spec = load_spec(write_spec(tmp_path, spec_text.replace("AUGMENT", augment)))
        prepared = load_prepared_tables(spec.data)
        labels = LabelSet.from_training_data(prepared.tables["train"], prepared.label_column, given=None,
                                             source_order=None, where="train")
        torch.manual_seed(0)
        return build_pipeline(build_model(spec, len(labels)), spec.data, prepared, labels,
                              cache_dir=tmp_path / "cache", fit_split="train")

    def features(pipe, split: str, **options) -> torch.Tensor:  # type: ignore[no-untyped-def]
        return torch.cat([b.features["image"].pooled for b in pipe.batches(split, 4, **options)])

    views, plain = pipeline("{views: 4}"), pipeline("false")
    assert plain.computed["image"] == 0  # the clean features came from the views run's cache
    assert views.cached["train"]["image"].views.shape == (6, 4)
    clean = features(plain, "train")
    epochs = [features(views, "train", train=True, seed=3, epoch=e) for e in (1, 2, 3)]
    assert torch.equal(epochs[1], features(views, "train", train=True, seed=3, epoch=2))  # resumable
    assert not torch.equal(epochs[0], epochs[1]) and not torch.equal(epochs[1], epochs[2])
    cached, choice = views.cached["train"]["image"], view_choice(6, 4, seed=3, epoch=1, name="image")
    assert bool((choice != view_choice(6, 4, seed=3, epoch=2, name="image")).any())
    picked = cached.for_epoch("image", seed=3, epoch=1).rows
    assert torch.equal(picked, cached.views[torch.arange(6), choice])  # the view picked for each sample
    assert torch.equal(epochs[0], cached.store.gather(picked).pooled)
    assert all(torch.equal(epochs[0][i], clean[i]) for i in range(6) if choice[i] == 0)  # view 0: clean
    assert any(not torch.equal(epochs[0][i], clean[i]) for i in range(6) if choice[i] != 0)
    assert torch.equal(features(views, "validation"), features(plain, "validation"))  # validation: clean
    assert torch.equal(features(views, "train"), clean)  # batches not for training: clean


@pytest.mark.parametrize(("freeze", "cache", "why"), [(False, True, "not frozen"), (True, False, "cache_features")])
def test_views_of_features_that_are_not_cached_warn_and_augment_live(freeze: bool, cache: bool, why: str,
                                                                      tmp_path: Path) -> None:
    from mmfusion.progress import Reporter

    paths = _pictures(tmp_path / "pictures", 4)
    (tmp_path / "data.csv").write_text("image,label\n" + "".join(f"{p},{'ab'[i % 2]}\n" for i, p in enumerate(paths)))
    spec = load_spec(write_spec(tmp_path, f"""\
model:
  encoders:
    image: {{type: timm, model_name: test_efficientnet, image_size: 32, freeze: {str(freeze).lower()},
             augment: {{views: 2}}}}
  fusion: {{type: concat}}
  head: {{type: linear}}
data:
  source: {{type: csv, train: {tmp_path / 'data.csv'}}}
"""))
    prepared = load_prepared_tables(spec.data)
    labels = LabelSet.from_training_data(prepared.tables["train"], prepared.label_column, given=None,
                                         source_order=None, where="train")
    warnings: list[str] = []
    reporter = Reporter(enabled=False)
    reporter.warn = warnings.append  # type: ignore[method-assign]
    pipe = build_pipeline(build_model(spec, len(labels)), spec.data, prepared, labels, cache=cache,
                          cache_dir=tmp_path / "cache", fit_split="train", reporter=reporter)
    assert pipe.live == ["image"] and any("augment.views" in w and why in w for w in warnings)
    first, again = (next(iter(pipe.batches("train", 4, train=True, seed=0, epoch=1))).inputs["image"]["pixels"]
                    for _ in range(2))
    assert not torch.equal(first, again)  # augmented afresh each time
