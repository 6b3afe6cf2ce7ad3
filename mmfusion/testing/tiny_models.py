"""Tiny, randomly initialised Hugging Face models written to a folder: offline stand-ins for Hub checkpoints in
tests, benchmarks, examples and the built-in encoders' conformance configs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from ..default_plugins.hf_common import quiet_loading

#: whole words of the tiny BERT's vocabulary (the words of the text encoders' example inputs, and a few answers)
_WORDS = [
    "a", "blue", "circle", "color", "four", "green", "image", "is", "large", "no", "one", "rectangle", "red",
    "shape", "shows", "small", "square", "the", "there", "three", "triangle", "two", "what", "yes",
]


def write_tiny_bert(folder: str | Path, *, hidden_size: int = 32, layers: int = 2) -> Path:
    """Write a tiny randomly initialised BERT with a small word-level vocabulary."""
    import torch
    from transformers import BertConfig, BertModel

    folder = Path(folder)
    if (folder / "config.json").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    # whole words for common ones, single characters and "##" continuations so that any word tokenises
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_WORDS, *letters, *(f"##{c}" for c in letters)]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # a vocab.txt and a tokenizer config are what every transformers version loads a BERT tokenizer from
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 128}), encoding="utf-8")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden_size, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=hidden_size * 2, max_position_embeddings=128)
    with quiet_loading():
        BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    return folder


def write_tiny_vision_model(folder: str | Path, kind: Literal["vit", "convnext", "clip", "siglip"] = "vit", *,
                            image_size: int = 32) -> Path:
    """Write a tiny randomly initialised vision model with its image processor.

    ``clip`` and ``siglip`` write the whole dual encoder (both towers), as their Hub checkpoints hold; ``clip``
    adds a character-level CLIP tokenizer (SigLIP's needs sentencepiece: give ``hf_text`` another ``tokenizer``).
    """
    import torch
    import transformers as tf

    folder = Path(folder)
    if (folder / "config.json").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    vision = {**small, "image_size": image_size, "patch_size": 8}
    if kind == "vit":
        model = tf.ViTModel(tf.ViTConfig(**vision), add_pooling_layer=False)
        processor = tf.ViTImageProcessor(size={"height": image_size, "width": image_size})
    elif kind == "convnext":
        model = tf.ConvNextModel(tf.ConvNextConfig(hidden_sizes=[16, 32], depths=[1, 1], num_stages=2,
                                                   image_size=image_size))
        processor = tf.ConvNextImageProcessor(size={"shortest_edge": image_size}, crop_pct=0.875)
    elif kind == "clip":
        size = _write_tiny_clip_tokenizer(folder)
        text = {**small, "vocab_size": size, "max_position_embeddings": 77, "bos_token_id": size - 2,
                "eos_token_id": size - 1, "pad_token_id": size - 1}
        model = tf.CLIPModel(tf.CLIPConfig(text_config=text, vision_config=vision, projection_dim=24))
        processor = tf.CLIPImageProcessor(size={"shortest_edge": image_size},
                                          crop_size={"height": image_size, "width": image_size})
    else:
        text = {**small, "vocab_size": 128, "max_position_embeddings": 16, "bos_token_id": 2, "eos_token_id": 3,
                "pad_token_id": 0}
        model = tf.SiglipModel(tf.SiglipConfig(text_config=text, vision_config=vision))
        processor = tf.SiglipImageProcessor(size={"height": image_size, "width": image_size})
    with quiet_loading():
        model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _write_tiny_clip_tokenizer(folder: Path) -> int:
    """Write a CLIP tokenizer whose vocabulary is the 256 byte symbols (alone and word-final) and no merges, the
    files every transformers version reads; returns the vocabulary size (start and end of text are the last two)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    symbols = [chr(b) for b in printable] + [chr(256 + i) for i in range(len(others))]  # GPT-2's byte symbols
    tokens = [*symbols, *(f"{s}</w>" for s in symbols), "<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "bos_token": "<|startoftext|>",
         "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}), encoding="utf-8")
    return len(tokens)
