"""Text encoder: any Hugging Face text model (BERT, MiniLM, ...) or the text tower of CLIP / SigLIP.

From a local folder, a ``package:`` folder or a Hub id (downloaded into the Hugging Face cache unless offline).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field, field_validator
from torch import Tensor, nn

from ..errors import WeightsError
from ..hookspecs import hookimpl
from ..interfaces.augment import TextAugment, drop_tokens, mapping_or_flag
from ..interfaces.encoder import Encoder, EncoderOutput
from ..interfaces.locations import SpecLocation
from ..weights.loading import load_weights_into
from .hf_common import HFModelConfig, HFSource, hf_source, hf_tower_config, hub_errors, hub_offline, load_hf_model
from .hf_towers import submodule

_EXAMPLE_WORDS = "the a red blue green small large circle square shape image shows is there what color".split()


class HFTextConfig(HFModelConfig):
    type: Literal["hf_text"] = "hf_text"
    tokenizer: SpecLocation | None = Field(None, description="Where the tokenizer comes from (default: path).")
    pooling: Literal["cls", "mean"] = Field(
        "cls", description="Pooled vector: the summary token ([CLS] for BERT-like models; for CLIP/SigLIP text "
        "towers their text embedding), or the masked mean of the tokens.")
    max_length: int = Field(128, ge=1, description="Longer texts are truncated (at most the model's own limit, "
                            "77 for CLIP); batches pad to their longest.")
    augment: TextAugment | None = Field(
        None, description="Token dropout for training samples: {token_dropout: p}, and with `views: K` (frozen "
        "encoders) K cached views, view 0 clean. Without `views` the encoder runs live on every batch.")

    @field_validator("augment", mode="before")
    @classmethod
    def _augment_mapping(cls, value: Any) -> Any:
        return mapping_or_flag(value, TextAugment, (None,))


class HFTextEncoder(Encoder):
    """A Hugging Face text model: token states ``[B, T, D]`` with their mask, pooled by summary token or mean.

    CLIP and SigLIP checkpoints give their text tower: the summary token is CLIP's end-of-text state (its
    text embedding before projection) or SigLIP's last position, and ``projection`` maps both the pooled
    vector and the tokens into the space the image tower shares.
    """

    name = "hf_text"
    Config = HFTextConfig
    modality = "text"
    preprocess_up_front = True
    loads_own_weights = True  # `weights:` goes into the backbone inside __init__
    config: HFTextConfig

    def __init__(self, config: HFTextConfig) -> None:
        super().__init__(config)
        source, text_config, towers = hf_tower_config(config, kind="hf_text", tower="text")
        # a plain model is built without its pooler (pooling reads the token states); towers keep theirs
        self.model = load_hf_model(config, source, text_config, towers, kind="hf_text", tower="text",
                                   options={} if towers is not None else {"add_pooling_layer": False})
        self.weights_path: Path | None = source.folder if config.pretrained else None
        if config.weights is not None:
            self.weights_path = load_weights_into(self.model, config.weights, what="hf_text weights")
        self.tokenizer = self._load_tokenizer(hf_source(config.tokenizer, what="hf_text tokenizer")
                                              if config.tokenizer else source)
        self.pad_id = int(self.tokenizer.pad_token_id or 0)
        self.max_length = _max_length(config.max_length, self.tokenizer, text_config)
        # how the pooled vector is read: "first" token, "last" position (SigLIP) or the model's own ("model")
        self._summary = "first" if towers is None else ("last" if towers.pads_to_max_length else "model")
        self._pads_to_max_length = towers is not None and towers.pads_to_max_length
        # CLIP's text_projection, SigLIP's head
        self._project = (submodule(self.model, "text_projection") or submodule(self.model, "head")
                         if config.projection else None)
        self.output_dim = int(self._project.out_features if self._project is not None else text_config.hidden_size)
        self.provides_tokens = True

    def _load_tokenizer(self, source: HFSource) -> Any:
        from transformers import AutoTokenizer

        try:
            with hub_errors(source.repo_id, what="hf_text tokenizer"), hub_offline(source):
                return AutoTokenizer.from_pretrained(source.name, local_files_only=source.local_files_only)
        except (OSError, ValueError, RuntimeError) as exc:
            raise WeightsError(f"hf_text: cannot load a tokenizer from {source.name}: {exc}. Set `tokenizer:` to a "
                               "folder or Hub id that has the tokenizer files.") from None

    def preprocess(self, value: Any, *, train: bool = False) -> dict[str, Tensor]:
        return self.preprocess_batch([value], train=train)[0]

    def preprocess_batch(self, values: Sequence[Any], *, train: bool = False) -> list[dict[str, Tensor]]:
        if train and self.config.augment is not None:  # seeds from torch's generator, as live image augmentation
            return self.preprocess_views(values, torch.randint(2**62, (len(values),)).tolist())
        encoded = self.tokenizer([str(v) for v in values], truncation=True, max_length=self.max_length)
        return [{"input_ids": torch.tensor(ids, dtype=torch.long)} for ids in encoded["input_ids"]]

    def augments(self) -> bool:
        return self.config.augment is not None

    def augment_views(self) -> int | None:
        return self.config.augment.views if self.config.augment is not None else None

    def augmentation_key(self) -> dict[str, Any]:
        augment = self.config.augment or TextAugment()
        return {"kind": "token_dropout/1", "token_dropout": augment.token_dropout}

    def preprocess_views(self, values: Sequence[Any], seeds: Sequence[int]) -> list[dict[str, Tensor]]:
        """Token dropout after tokenising (and truncating): special tokens stay, at least one other token does."""
        p = (self.config.augment or TextAugment()).token_dropout
        special = set(self.tokenizer.all_special_ids)
        encoded = self.tokenizer([str(v) for v in values], truncation=True, max_length=self.max_length)
        return [{"input_ids": torch.tensor(drop_tokens(ids, p, random.Random(seed), special), dtype=torch.long)}
                for ids, seed in zip(encoded["input_ids"], seeds)]

    def collate(self, items: Sequence[dict[str, Tensor]]) -> dict[str, Tensor]:
        longest = max(int(item["input_ids"].numel()) for item in items)
        # SigLIP pools its last position: every batch padded to the length it was trained with, so that a
        # text's output does not depend on the longest text beside it
        length = self.max_length if self._pads_to_max_length else longest
        ids = torch.full((len(items), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(items), length), dtype=torch.long)
        for row, item in enumerate(items):
            n = int(item["input_ids"].numel())
            ids[row, :n] = item["input_ids"]
            mask[row, :n] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def example_input(self, rng: random.Random) -> Any:
        return " ".join(rng.choice(_EXAMPLE_WORDS) for _ in range(rng.randint(3, 12)))

    def weights_target(self) -> nn.Module:
        return self.model

    def forward(self, inputs: dict[str, Tensor]) -> EncoderOutput:
        mask = inputs["attention_mask"]
        # SigLIP was trained attending over its padding too (its processor passes no mask)
        model_mask = torch.ones_like(mask) if self._pads_to_max_length else mask
        out = self.model(input_ids=inputs["input_ids"], attention_mask=model_mask)
        hidden = out.last_hidden_state
        tokens = self._project(hidden) if self._project is not None else hidden
        if self.config.pooling == "mean":
            weights = mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        elif self._summary == "model":  # CLIP: the end-of-text state, found by the model itself
            pooled = out.text_embeds if self.config.projection else out.pooler_output
        else:
            pooled = tokens[:, 0 if self._summary == "first" else -1]
        return EncoderOutput(pooled, tokens, mask.bool())

    @classmethod
    def conformance_configs(cls, workdir: Path) -> list[HFTextConfig]:
        from ..testing.tiny_models import write_tiny_bert, write_tiny_vision_model

        folder = write_tiny_bert(workdir / "tiny-bert")
        clip = write_tiny_vision_model(workdir / "tiny-clip", "clip")
        siglip = write_tiny_vision_model(workdir / "tiny-siglip", "siglip")
        return [HFTextConfig(path=str(folder), pooling="cls"), HFTextConfig(path=str(folder), pooling="mean"),
                HFTextConfig(path=str(clip), projection=True),
                HFTextConfig(path=str(siglip), tokenizer=str(folder), projection=True)]


def _max_length(asked: int, tokenizer: Any, text_config: Any) -> int:
    """``max_length`` within what the model can read: its position embeddings and its tokenizer's limit."""
    limits = [asked, getattr(text_config, "max_position_embeddings", None)]
    model_max = getattr(tokenizer, "model_max_length", None)
    limits.append(model_max if isinstance(model_max, int) and model_max < 1_000_000 else None)
    return min(int(x) for x in limits if x)


@hookimpl
def mmfusion_encoders() -> list[type]:
    return [HFTextEncoder]
