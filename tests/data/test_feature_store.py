"""The feature store reads from disk what does not fit its memory budget, and gathers the same values either way."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mmfusion.data import feature_cache
from mmfusion.data.feature_cache import build_feature_store
from mmfusion.data.feature_store import FeatureStore, feature_memory
from mmfusion.default_plugins.hf_text import HFTextConfig, HFTextEncoder
from mmfusion.default_plugins.modalities import TextModality
from mmfusion.errors import MMFusionError

TEXTS = [f"{colour} {shape} number {i}" + " and more words" * (i % 4)
         for i, (colour, shape) in enumerate((c, s) for c in ("red", "green", "blue") for s in ("circle", "square",
                                                                                              "triangle", "star"))]


def _build(encoder: HFTextEncoder, cache: Path, **options: object) -> tuple[FeatureStore, dict[str, int], int]:
    return build_feature_store(encoder, TextModality(), TEXTS, cache_dir=cache, device=torch.device("cpu"),
                               autocast=contextlib.nullcontext, batch_size=4, **options)  # type: ignore[arg-type]


@pytest.fixture
def encoder(tiny_bert: Path) -> HFTextEncoder:
    return HFTextEncoder(HFTextConfig(path=str(tiny_bert), pooling="mean")).eval()


def _old_gather(cache: Path, positions: dict[str, int], rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The store as it was before it could read from disk: every shard concatenated in RAM, then indexed."""
    pooled, tokens, fingerprints = [], [], []
    for path in sorted(cache.glob("features/*/shard-*.safetensors")):
        data = load_file(path)
        fingerprints += json.loads(path.with_suffix(".json").read_text())["fingerprints"]
        starts = torch.cumsum(torch.cat([torch.zeros(1, dtype=torch.long), data["lengths"]]), 0)
        pooled += list(data["pooled"])
        tokens += [data["tokens"][starts[i]:starts[i + 1]] for i in range(len(data["lengths"]))]
    order = [fingerprints.index(fp) for fp, _ in sorted(positions.items(), key=lambda item: item[1])]
    pooled_all, token_list = torch.stack([pooled[i] for i in order]), [tokens[i] for i in order]
    offsets = torch.zeros(len(order) + 1, dtype=torch.long)
    offsets[1:] = torch.cumsum(torch.tensor([t.shape[0] for t in token_list]), 0)
    packed = torch.cat(token_list)
    starts, lengths = offsets[rows], offsets[rows + 1] - offsets[rows]
    width = max(int(lengths.max()), 1)
    steps = torch.arange(width)
    mask = steps.unsqueeze(0) < lengths.unsqueeze(1)
    index = (starts.unsqueeze(1) + steps.unsqueeze(0)).clamp(max=packed.shape[0] - 1)
    return pooled_all[rows].float(), packed[index].float() * mask.unsqueeze(-1), mask


def _batches(count: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, count, (size,), generator=generator) for size in (1, 3, 7, 16, 32)]
    return batches + [torch.arange(count), torch.tensor([2, 2, 2])]  # every row; one row three times


def test_a_store_larger_than_its_budget_reads_from_disk_and_gathers_the_same_values(
        tmp_path: Path, encoder: HFTextEncoder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feature_cache, "SHARD_SIZE", 5)  # three shards
    in_memory, positions, computed = _build(encoder, tmp_path)
    assert computed == len(TEXTS) and not in_memory.mapped and in_memory.nbytes() > 1000
    mapped, again, computed = _build(encoder, tmp_path, memory=1000)
    assert computed == 0 and again == positions and mapped.mapped and len(mapped.shards) == 3
    for rows in _batches(len(TEXTS)):
        old = _old_gather(tmp_path, positions, rows)
        for store in (in_memory, mapped):
            out = store.gather(rows)
            assert torch.equal(out.pooled, old[0]) and torch.equal(out.tokens, old[1])
            assert torch.equal(out.token_mask, old[2])
            assert out.pooled.dtype == out.tokens.dtype == torch.float32
            assert torch.equal(store.gather(rows, with_tokens=False).pooled, old[0])
            assert store.gather(rows, with_tokens=False).tokens is None


def test_a_store_for_pooled_outputs_only_leaves_the_tokens_out(tmp_path: Path, encoder: HFTextEncoder,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A fusion that reads no tokens: the store in RAM holds (and the budget counts) the pooled outputs only."""
    monkeypatch.setattr(feature_cache, "SHARD_SIZE", 5)
    full, positions, _ = _build(encoder, tmp_path)
    pooled, again, computed = _build(encoder, tmp_path, tokens=False)
    assert computed == 0 and again == positions and not pooled.mapped and not pooled.has_tokens
    assert pooled.nbytes() == len(TEXTS) * full.width * 2 < full.nbytes()
    assert full.nbytes(tokens=False) == pooled.nbytes()
    # within a budget that only the pooled outputs fit, the store is still held in RAM
    small, _, _ = _build(encoder, tmp_path, tokens=False, memory=pooled.nbytes())
    assert not small.mapped
    for rows in _batches(len(TEXTS)):
        assert torch.equal(pooled.gather(rows).pooled, full.gather(rows).pooled)
        assert pooled.gather(rows).tokens is None


def test_the_budget_comes_from_the_environment(tmp_path: Path, encoder: HFTextEncoder,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMFUSION_FEATURE_MEMORY", "1KB")
    assert feature_memory() == 1000
    store, _, _ = _build(encoder, tmp_path)
    assert store.mapped
    for value, expected in {"0": 0, "2GiB": 2 << 30, "1.5 MB": 1_500_000, "": 1 << 30}.items():
        monkeypatch.setenv("MMFUSION_FEATURE_MEMORY", value)
        assert feature_memory() == expected
    monkeypatch.setenv("MMFUSION_FEATURE_MEMORY", "lots")
    with pytest.raises(MMFusionError, match=r"MMFUSION_FEATURE_MEMORY='lots' is not an amount of memory: write bytes "
                                            r"or a size such as 512MB or 2GiB"):
        _build(encoder, tmp_path)


def _gather_in(store: FeatureStore, rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(store.gather(rows))


def test_a_mapped_store_pickles_without_its_data_and_gathers_in_a_spawned_process(
        tmp_path: Path, encoder: HFTextEncoder) -> None:
    """Data-loader workers (fork, spawn or forkserver) receive the store pickled: each maps the shards itself."""
    store, _, _ = _build(encoder, tmp_path, memory=0)
    rows = torch.tensor([5, 0, 11, 5])
    expected = store.gather(rows)
    pickled = pickle.dumps(store)
    assert len(pickled) < store.nbytes() / 2  # offsets and row numbers, not the features
    assert all(torch.equal(a, b) for a, b in zip(pickle.loads(pickled).gather(rows), expected))
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        spawned = pool.apply(_gather_in, (store, rows))
    assert all(torch.equal(a, b) for a, b in zip(spawned, expected))


def test_a_shard_deleted_while_in_use_says_what_to_do(tmp_path: Path, encoder: HFTextEncoder) -> None:
    store, _, _ = _build(encoder, tmp_path, memory=0)
    clone = pickle.loads(pickle.dumps(store))  # not mapped yet
    for shard in tmp_path.glob("features/*/shard-*.safetensors"):
        shard.unlink()
    with pytest.raises(MMFusionError, match=r"feature cache shard .*shard-\w+\.safetensors went away while in use "
                                            r".*run the command again"):
        clone.gather(torch.tensor([0]))


def test_fp32_features_have_their_own_folder_and_match_the_encoder(tmp_path: Path, encoder: HFTextEncoder) -> None:
    half, positions, computed = _build(encoder, tmp_path)
    full, same, computed_fp32 = _build(encoder, tmp_path, dtype="fp32")
    assert computed == computed_fp32 == len(TEXTS) and same == positions
    folders = sorted(p.name for p in (tmp_path / "features").iterdir())
    assert len(folders) == 2 and folders[1] == folders[0] + "-fp32"
    shard = next((tmp_path / "features" / folders[1]).glob("shard-*.safetensors"))
    assert load_file(shard)["tokens"].dtype == torch.float32
    texts = [TEXTS[3], TEXTS[10]]
    rows = torch.tensor([positions[t] for t in texts])
    with torch.no_grad():
        direct = encoder(encoder.collate(encoder.preprocess_batch(texts)))
    assert torch.allclose(full.gather(rows).pooled, direct.pooled, atol=1e-6, rtol=0)
    assert not torch.equal(half.gather(rows).pooled, full.gather(rows).pooled)  # fp16 rounds
    assert torch.allclose(half.gather(rows).pooled, direct.pooled, atol=1e-2)
    _, _, again = _build(encoder, tmp_path, dtype="fp32", memory=0)
    assert again == 0
    with pytest.raises(MMFusionError, match=r"feature dtype 'bf16' is not one of fp16, fp32"):
        _build(encoder, tmp_path, dtype="bf16")


def test_parallel_decoding_gives_what_one_thread_gives(tmp_path: Path) -> None:
    """Images decoded and preprocessed in threads, batches ahead of the encoder: the same features, in order,
    and a value that does not decode is still collected by fingerprint."""
    from PIL import Image

    from mmfusion.default_plugins.modalities import ImageModality
    from mmfusion.default_plugins.timm_image import TimmConfig, TimmEncoder

    rng = np.random.default_rng(0)
    paths = []
    for i in range(11):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (24 + i, 20, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    cut = tmp_path / "cut.jpg"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(cut, quality=90)
    cut.write_bytes(cut.read_bytes()[:cut.stat().st_size // 2])
    paths.insert(4, str(cut))
    encoder = TimmEncoder(TimmConfig(model_name="test_efficientnet", image_size=32)).eval()
    results = []
    intra_op = torch.get_num_threads()
    for threads in (0, 3):
        unusable: dict[str, str] = {}
        store, positions, computed = build_feature_store(
            encoder, ImageModality(), paths, cache_dir=tmp_path / f"cache-{threads}", device=torch.device("cpu"),
            autocast=contextlib.nullcontext, batch_size=2, threads=threads, unusable=unusable)
        assert computed == 11 and list(unusable) == [ImageModality().fingerprint(str(cut))]
        results.append((positions, store.gather(torch.arange(11))))
    assert torch.get_num_threads() == intra_op  # the decoding threads' single torch thread does not stay behind
    (first, one), (second, many) = results
    assert first == second
    assert torch.equal(one.pooled, many.pooled) and torch.equal(one.tokens, many.tokens)


def test_outputs_beyond_the_range_of_fp16_ask_for_fp32() -> None:
    from mmfusion.data.feature_shards import shard_tensors

    large = [(torch.tensor([1.0, 70000.0]), torch.ones(3, 2)), (torch.zeros(2), torch.ones(1, 2))]
    with pytest.raises(MMFusionError, match=r"the encoder's pooled outputs reach 7e\+04, beyond fp16's range "
                                            r"\(±65504\), so the feature cache cannot store them in fp16: set "
                                            r"train.feature_dtype: fp32"):
        shard_tensors(large)
    assert shard_tensors(large, "fp32")["pooled"][0, 1] == 70000.0
    broken = [(torch.tensor([float("nan"), 1.0]), torch.ones(1, 2))]  # the encoder's own NaN: stored, then dropped
    assert torch.isnan(shard_tensors(broken)["pooled"][0, 0])
