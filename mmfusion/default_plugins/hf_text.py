"""Text encoder: BERT or any Hugging Face AutoModel, from a local folder, a package or the local HF cache."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from ..errors import WeightsError
from ..hookspecs import hookimpl
from ..interfaces.config import EncoderConfig
from ..interfaces.encoder import Encoder, EncoderOutput
from ..paths import SpecLocation, is_local_or_package, resolve_location
from ..weights import load_weights_into

_EXAMPLE_WORDS = "the a red blue green small large circle square shape image shows is there what color".split()


class HFTextConfig(EncoderConfig):
    type: Literal["hf_text"] = "hf_text"
    path: SpecLocation = Field(
        description="A local Hugging Face model folder, 'package:pkg/folder', or a hub id already in the local "
        "Hugging Face cache (never downloaded)."
    )
    pretrained: bool = Field(
        True, description="Load the weights in `path`; false builds the architecture from its config, randomly "
        "initialised."
    )
    config_overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Changes to the model config, e.g. {hidden_size: 768, num_hidden_layers: 12} (random init).",
    )
    tokenizer: SpecLocation | None = Field(None, description="Where the tokenizer comes from (default: path).")
    pooling: Literal["cls", "mean"] = Field("cls", description="Pooled vector: first token, or masked mean.")
    max_length: int = Field(128, ge=1, description="Longer texts are truncated; batches pad to their longest.")


def resolve_hf_folder(location: str, *, what: str) -> str:
    """A local folder for a spec location: a path, a package path, or a hub id in the local cache."""
    if is_local_or_package(location):
        return str(resolve_location(location, what=what))
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(location, local_files_only=True)
    except Exception:
        raise WeightsError(
            f"{what}: '{location}' is neither a local folder nor a model in the local Hugging Face cache "
            f"({os.environ.get('HF_HOME', '~/.cache/huggingface')}); mmfusion never downloads at run time. "
            f"On a machine with network access run `hf download {location}` and copy the cache here, or set "
            "the path to a local model folder (config.json, weights, tokenizer files)."
        ) from None


_UNUSED_WEIGHTS = ("UNEXPECTED", "were not used when initializing")
_REAL_PROBLEMS = ("MISSING", "MISMATCH", "newly initialized", "not initialized")


class _UnusedWeightsFilter(logging.Filter):
    """Drops transformers' report of checkpoint weights the model leaves unused (the pooler we build without);
    a report of missing or mis-shaped weights still gets through."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not (any(k in text for k in _UNUSED_WEIGHTS) and not any(k in text for k in _REAL_PROBLEMS))


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """For this call only: no "weights not used (pooler)" report and no progress bars from transformers.

    A library must not change its host's logging: the filter is removed and the progress-bar settings of
    transformers and huggingface_hub are restored afterwards, whatever they were.
    """
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as hf_logging

    loggers = [logging.getLogger(name) for name in ("transformers.modeling_utils", "transformers.utils.loading_report")]
    unused = _UnusedWeightsFilter()
    bars, hub_bars_off = hf_logging.is_progress_bar_enabled(), hub_utils.are_progress_bars_disabled()
    for logger in loggers:
        logger.addFilter(unused)
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(unused)
        if bars:
            hf_logging.enable_progress_bar()
        if hub_bars_off:
            hub_utils.disable_progress_bars()
        else:
            hub_utils.enable_progress_bars()


class HFTextEncoder(Encoder):
    """A Hugging Face text model: token states ``[B, T, D]`` with their mask, pooled by CLS or mean."""

    name = "hf_text"
    Config = HFTextConfig
    modality = "text"
    preprocess_up_front = True
    loads_own_weights = True  # `weights:` goes into the backbone inside __init__
    config: HFTextConfig

    def __init__(self, config: HFTextConfig) -> None:
        super().__init__(config)
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        folder = resolve_hf_folder(config.path, what="hf_text path")
        model_config = AutoConfig.from_pretrained(folder, local_files_only=True, **config.config_overrides)
        if config.pretrained:
            try:
                with quiet_loading():
                    self.model = AutoModel.from_pretrained(folder, config=model_config, local_files_only=True,
                                                           add_pooling_layer=False)
            except TypeError:  # models without a pooler option
                with quiet_loading():
                    self.model = AutoModel.from_pretrained(folder, config=model_config, local_files_only=True)
            except (OSError, ValueError, RuntimeError) as exc:
                raise WeightsError(
                    f"hf_text: cannot load pretrained weights from {folder}: {exc}. With config_overrides that "
                    "change the architecture, set `pretrained: false` (random init)."
                ) from None
        else:
            try:
                self.model = AutoModel.from_config(model_config, add_pooling_layer=False)
            except TypeError:
                self.model = AutoModel.from_config(model_config)
        self.weights_path: Path | None = Path(folder) if config.pretrained else None
        if config.weights is not None:
            self.weights_path = load_weights_into(self.model, config.weights, what="hf_text weights")
        tokenizer_folder = resolve_hf_folder(config.tokenizer, what="hf_text tokenizer") if config.tokenizer else folder
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder, local_files_only=True)
        self.pad_id = int(self.tokenizer.pad_token_id or 0)
        self.output_dim = int(model_config.hidden_size)
        self.provides_tokens = True

    def preprocess(self, value: Any, *, train: bool = False) -> dict[str, Tensor]:
        return self.preprocess_batch([value])[0]

    def preprocess_batch(self, values: Sequence[Any], *, train: bool = False) -> list[dict[str, Tensor]]:
        encoded = self.tokenizer([str(v) for v in values], truncation=True, max_length=self.config.max_length)
        return [{"input_ids": torch.tensor(ids, dtype=torch.long)} for ids in encoded["input_ids"]]

    def collate(self, items: Sequence[dict[str, Tensor]]) -> dict[str, Tensor]:
        length = max(int(item["input_ids"].numel()) for item in items)
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
        hidden = self.model(input_ids=inputs["input_ids"], attention_mask=mask).last_hidden_state
        if self.config.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return EncoderOutput(pooled, hidden, mask.bool())

    @classmethod
    def conformance_configs(cls, workdir: Path) -> list[HFTextConfig]:
        folder = write_tiny_bert(workdir / "tiny-bert")
        return [HFTextConfig(path=str(folder), pooling="cls"), HFTextConfig(path=str(folder), pooling="mean")]


def write_tiny_bert(folder: str | Path, *, hidden_size: int = 32, layers: int = 2) -> Path:
    """Write a tiny randomly initialised BERT with a small word-level vocabulary (for tests, offline)."""
    folder = Path(folder)
    from transformers import BertConfig, BertModel

    if (folder / "config.json").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    words = sorted(set(_EXAMPLE_WORDS) | set("yes no triangle rectangle one two three four".split()))
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    # whole words for common ones, single characters and "##" continuations so that any word tokenises
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *letters, *(f"##{c}" for c in letters)]
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


@hookimpl
def mmfusion_encoders() -> list[type]:
    return [HFTextEncoder]
