"""The frozen-feature cache: computed once, reused, invalidated when the encoder or the data change."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from mmfusion.data import feature_cache
from mmfusion.data.feature_cache import build_feature_store
from mmfusion.default_plugins.hf_text import HFTextConfig, HFTextEncoder
from mmfusion.default_plugins.modalities import ImageModality, TextModality
from mmfusion.default_plugins.timm_image import TimmConfig, TimmEncoder


def _build(encoder, modality, refs, cache: Path, **options):  # type: ignore[no-untyped-def]
    return build_feature_store(encoder, modality, refs, cache_dir=cache, device=torch.device("cpu"),
                               autocast=contextlib.nullcontext, batch_size=2, **options)


def test_text_features_are_cached_and_match_a_direct_forward(tmp_path: Path, tiny_bert: Path) -> None:
    encoder = HFTextEncoder(HFTextConfig(path=str(tiny_bert), pooling="mean")).eval()
    texts = ["a red circle", "is there a blue shape in the image", "a red circle", None, "green"]
    store, positions, computed = _build(encoder, TextModality(), texts, tmp_path)
    assert computed == 3 and len(store) == 3
    rows = torch.tensor([positions[t] for t in ["green", "a red circle"]])
    cached = store.gather(rows)
    with torch.no_grad():
        direct = encoder(encoder.collate(encoder.preprocess_batch(["green", "a red circle"])))
    assert torch.allclose(cached.pooled, direct.pooled, atol=1e-2)  # stored as float16
    n = [int(m.sum()) for m in direct.token_mask]
    assert cached.token_mask.sum(1).tolist() == n
    assert torch.allclose(cached.tokens[0, :n[0]], direct.tokens[0, :n[0]], atol=1e-2)
    assert not cached.tokens[0, n[0]:].any()  # padding is zero and masked

    _, _, again = _build(encoder, TextModality(), texts + ["a new text"], tmp_path)
    assert again == 1  # only the new value
    other = HFTextEncoder(HFTextConfig(path=str(tiny_bert), pooling="cls")).eval()
    _, _, recomputed = _build(other, TextModality(), texts, tmp_path)
    assert recomputed == 3  # another encoder config: another cache folder


def test_changed_image_file_is_recomputed(tmp_path: Path) -> None:
    from PIL import Image

    paths = []
    for i, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (16, 16), colour).save(path)
        paths.append(str(path))
    encoder = TimmEncoder(TimmConfig(model_name="test_efficientnet", image_size=32)).eval()
    store, _, computed = _build(encoder, ImageModality(), paths, tmp_path / "cache")
    assert computed == 2 and store.has_tokens
    assert store.gather(torch.tensor([0, 1])).tokens.shape == (2, 1, encoder.output_dim)
    _, _, computed = _build(encoder, ImageModality(), paths, tmp_path / "cache")
    assert computed == 0
    Image.new("RGB", (16, 16), (0, 255, 0)).save(paths[0])
    os.utime(paths[0], (time.time() + 5, time.time() + 5))
    _, _, computed = _build(encoder, ImageModality(), paths, tmp_path / "cache")
    assert computed == 1


def test_different_weights_never_share_cached_features(tmp_path: Path) -> None:
    """Two random initialisations (e.g. sweep seeds with a frozen random-init encoder) get separate caches."""
    from PIL import Image

    path = tmp_path / "a.png"
    Image.new("RGB", (16, 16), (200, 30, 30)).save(path)
    config = TimmConfig(model_name="test_efficientnet", image_size=32, freeze=True)
    torch.manual_seed(0)
    first = TimmEncoder(config).eval()
    torch.manual_seed(1)
    second = TimmEncoder(config).eval()
    assert first.feature_key() != second.feature_key()
    same = TimmEncoder(config).eval()
    same.load_state_dict(first.state_dict())
    assert same.feature_key() == first.feature_key()
    store_one, _, computed = _build(first, ImageModality(), [str(path)], tmp_path / "cache")
    assert computed == 1
    store_two, _, computed = _build(second, ImageModality(), [str(path)], tmp_path / "cache")
    assert computed == 1  # not first's features
    with torch.inference_mode():
        direct = second(second.collate([second.preprocess(Image.open(path).convert("RGB"))])).pooled
    assert torch.allclose(store_two.gather(torch.tensor([0])).pooled, direct, atol=1e-5)


def test_an_input_absent_from_every_row_gives_masked_rows_of_the_right_width(tmp_path: Path, tiny_bert: Path
                                                                            ) -> None:
    encoder = HFTextEncoder(HFTextConfig(path=str(tiny_bert))).eval()
    store, rows, computed = _build(encoder, TextModality(), [None, None, None], tmp_path / "cache")
    assert computed == 0 and rows == {}
    out = store.gather(torch.tensor([0, 0, 0]))
    assert out.pooled.shape == (3, encoder.output_dim)
    assert out.tokens is not None and out.tokens.shape[0] == 3 and out.tokens.shape[2] == encoder.output_dim


def test_values_that_do_not_load_are_collected_not_cached(tmp_path: Path) -> None:
    """A JPEG cut after its header passes parsing; extraction leaves it out and says which, or raises."""
    import numpy as np
    import pytest
    from PIL import Image

    from mmfusion.interfaces.modality import BadValueError

    good, cut = tmp_path / "good.png", tmp_path / "cut.jpg"
    Image.new("RGB", (16, 16), (10, 200, 30)).save(good)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(cut, quality=90)
    cut.write_bytes(cut.read_bytes()[:cut.stat().st_size // 2])
    encoder = TimmEncoder(TimmConfig(model_name="test_efficientnet", image_size=32)).eval()
    modality, refs = ImageModality(), [str(good), str(cut), str(good)]
    unusable: dict[str, str] = {}
    store, positions, computed = build_feature_store(
        encoder, modality, refs, cache_dir=tmp_path / "cache", device=torch.device("cpu"),
        autocast=contextlib.nullcontext, unusable=unusable)
    assert computed == 1 and len(store) == 1 and list(positions) == [modality.fingerprint(str(good))]
    assert list(unusable) == [modality.fingerprint(str(cut))] and "cut.jpg is truncated" in unusable[
        modality.fingerprint(str(cut))]
    with pytest.raises(BadValueError, match=r"cut\.jpg is truncated"):
        _build(encoder, modality, refs, tmp_path / "cache")


TEXTS = ["a red circle", "is there a blue shape in the image", "green", "a small square", "beta"]


def _shards(cache: Path) -> list[Path]:
    return sorted(cache.glob("features/*/shard-*.safetensors"))


def _overwrite_pooled(shard: Path) -> None:
    """Same size, other bytes: 0xFF.. is NaN in fp16 (where the pooled features lie, after the header)."""
    header = int.from_bytes(shard.read_bytes()[:8], "little")
    offsets = json.loads(shard.read_bytes()[8:8 + header])["pooled"]["data_offsets"]
    with open(shard, "r+b") as handle:
        handle.seek(8 + header + offsets[0] + 4)
        handle.write(b"\xff" * 16)


def _edit_listing(shard: Path, edit: Callable[[dict], object]) -> None:
    listing = shard.with_suffix(".json")
    listing.write_text(json.dumps(edit(json.loads(listing.read_text()))))


DAMAGE = {
    "truncated shard": lambda s: os.truncate(s, s.stat().st_size // 2),
    "shard cut after its header": lambda s: os.truncate(s, s.stat().st_size - 7),
    "overwritten shard bytes": _overwrite_pooled,
    "empty shard": lambda s: os.truncate(s, 0),
    "deleted shard": lambda s: s.unlink(),
    "garbage listing": lambda s: s.with_suffix(".json").write_bytes(b"\x00\xff{garbage"),
    "listing of numbers": lambda s: s.with_suffix(".json").write_text("[1, 2]"),
    "plain list listing": lambda s: _edit_listing(s, lambda d: d["fingerprints"]),
    "listing with a row too many": lambda s: _edit_listing(s, lambda d: {**d, "fingerprints": d["fingerprints"] * 2}),
    "listing with another size": lambda s: _edit_listing(s, lambda d: {**d, "bytes": 12}),
}


@pytest.mark.parametrize("memory", [None, 0], ids=["in-memory", "read-from-disk"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_shard_is_dropped_and_recomputed(damage: str, memory: int | None, tmp_path: Path, tiny_bert: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feature_cache, "SHARD_SIZE", 2)  # three shards: one damaged, two reused
    encoder = HFTextEncoder(HFTextConfig(path=str(tiny_bert), pooling="mean")).eval()
    clean, positions, computed = _build(encoder, TextModality(), TEXTS, tmp_path)
    assert computed == 5 and len(_shards(tmp_path)) == 3
    victim = _shards(tmp_path)[0]
    rows = len(json.loads(victim.with_suffix(".json").read_text())["fingerprints"])
    DAMAGE[damage](victim)
    with pytest.warns(UserWarning, match=rf"feature cache: dropped shard .*{victim.name} \(.+\); its values are "
                                         "computed again"):
        store, again_positions, computed = _build(encoder, TextModality(), TEXTS, tmp_path, memory=memory)
    assert computed == rows and again_positions == positions and store.mapped == (memory == 0)
    every = torch.arange(len(TEXTS))
    before, after = clean.gather(every), store.gather(every)
    assert torch.equal(before.pooled, after.pooled) and torch.equal(before.tokens, after.tokens)
    _, _, computed = _build(encoder, TextModality(), TEXTS, tmp_path)
    assert computed == 0  # healed: the recomputed values were cached again


def test_a_listing_records_rows_bytes_and_token_rows(tmp_path: Path, tiny_bert: Path) -> None:
    encoder = HFTextEncoder(HFTextConfig(path=str(tiny_bert))).eval()
    _build(encoder, TextModality(), TEXTS, tmp_path)
    (shard,) = _shards(tmp_path)
    listing = json.loads(shard.with_suffix(".json").read_text())
    assert listing["rows"] == 5 and listing["bytes"] == shard.stat().st_size and listing["token_rows"] > 5


def test_a_garbage_encoder_description_is_rewritten(tmp_path: Path, tiny_bert: Path) -> None:
    encoder = HFTextEncoder(HFTextConfig(path=str(tiny_bert))).eval()
    _build(encoder, TextModality(), TEXTS, tmp_path)
    (described,) = tmp_path.glob("features/*/encoder.json")
    described.write_bytes(b"\x00garbage")
    _, _, computed = _build(encoder, TextModality(), TEXTS, tmp_path)
    assert computed == 0 and json.loads(described.read_text()) == json.loads(encoder.feature_key())


def test_an_unwritable_cache_computes_without_caching(tmp_path: Path, tiny_bert: Path) -> None:
    encoder = HFTextEncoder(HFTextConfig(path=str(tiny_bert))).eval()
    reference, _, _ = _build(encoder, TextModality(), TEXTS, tmp_path / "cache")
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder")
    for _ in range(2):
        with pytest.warns(UserWarning, match=r"feature cache .*a-file/features/\w+ cannot be written \(.*a-file is "
                                             r"a file, not a folder\): features are computed without caching this "
                                             r"time; set MMFUSION_CACHE_DIR or train.cache_dir"):
            store, _, computed = _build(encoder, TextModality(), TEXTS, in_the_way)
        assert computed == 5
        assert torch.equal(store.gather(torch.arange(5)).pooled, reference.gather(torch.arange(5)).pooled)
    assert in_the_way.read_text() == "not a folder"
