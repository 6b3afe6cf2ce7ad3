"""Tabular encoder: every column becomes a token (a feature tokenizer, as in FT-Transformer).

Numeric columns are standardised with statistics learned from the training data, then scaled by a
learned per-column vector; categorical columns look up a per-column embedding whose vocabulary is
learned from the training data (with slots for unseen and missing categories). A learned column
embedding tells the tokens apart. The pooled vector is an MLP over the mean of the visible tokens.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from mmfusion import DataError, Encoder, EncoderConfig, EncoderOutput

UNSEEN, MISSING = 0, 1  # reserved rows of every categorical embedding


class TabularConfig(EncoderConfig):
    type: Literal["tabular"] = "tabular"
    numeric: list[str] = Field(default_factory=list, description="Numeric columns (standardised).")
    categorical: list[str] = Field(default_factory=list, description="Categorical columns (embedded).")
    dim: int = Field(64, ge=1, description="Token width.")
    missing_numeric: Literal["absent", "impute_mean"] = Field(
        "absent", description="A missing number: hide that column's token, or use the training mean.")
    min_category_count: int = Field(1, ge=1, description="Rarer categories are treated as unseen.")

    @model_validator(mode="after")
    def _columns(self) -> TabularConfig:
        both = sorted(set(self.numeric) & set(self.categorical))
        if both:
            raise ValueError(f"columns listed as both numeric and categorical: {', '.join(both)}")
        if len(set(self.numeric)) != len(self.numeric) or len(set(self.categorical)) != len(self.categorical):
            raise ValueError("a column is listed twice")
        if not self.numeric and not self.categorical:
            raise ValueError("list the table's columns under `numeric:` and/or `categorical:`")
        return self


def _number(value: Any, column: str) -> float:
    if value is None:
        return math.nan
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"tabular column '{column}': {value!r} is not a number (list the column under "
                        "`categorical:` if it holds categories)") from None
    return number


class TabularEncoder(Encoder):
    """One token per column; pooled = MLP(mean of visible tokens)."""

    name = "tabular"
    Config = TabularConfig
    modality = "tabular"
    preprocess_up_front = True
    config: TabularConfig

    def __init__(self, config: TabularConfig) -> None:
        super().__init__(config)
        dim = config.dim
        self.columns = list(config.numeric) + list(config.categorical)
        self.means = {c: 0.0 for c in config.numeric}
        self.stds = {c: 1.0 for c in config.numeric}
        self.vocab: dict[str, list[str]] = {c: [] for c in config.categorical}
        self.numeric_scale = nn.Parameter(torch.randn(len(config.numeric), dim) * 0.5)
        self.numeric_shift = nn.Parameter(torch.zeros(len(config.numeric), dim))
        self.column_embedding = nn.Parameter(torch.randn(len(self.columns), dim) * 0.02)
        self._set_vocab({})  # filled in by fit_preprocessing / load_preprocessing_state
        self.pool = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.output_dim = dim
        self.provides_tokens = True

    # ----- learned from the training data ---------------------------------------------------------
    def _check_columns(self, value: dict[str, Any]) -> None:
        missing = [c for c in self.columns if c not in value]
        if missing:
            raise DataError(f"the tabular encoder reads columns {', '.join(self.columns)}, but the data gives "
                            f"{', '.join(value)} (set data.columns.<input> to the numeric + categorical columns)")

    def fit_preprocessing(self, values: Sequence[Any]) -> None:
        """Standardisation statistics of numeric columns and vocabularies of categorical columns."""
        for value in values[:1]:
            self._check_columns(value)
        for column in self.config.numeric:
            numbers = [n for n in (_number(v.get(column), column) for v in values) if not math.isnan(n)]
            mean = sum(numbers) / len(numbers) if numbers else 0.0
            var = sum((n - mean) ** 2 for n in numbers) / len(numbers) if numbers else 1.0
            self.means[column], self.stds[column] = mean, math.sqrt(var) or 1.0
        vocab = {}
        for column in self.config.categorical:
            counts = Counter(str(v[column]) for v in values if v.get(column) is not None)
            kept = [c for c, n in counts.items() if n >= self.config.min_category_count]
            vocab[column] = sorted(kept, key=lambda c: (-counts[c], c))
        self._set_vocab(vocab)

    def _set_vocab(self, vocab: dict[str, list[str]]) -> None:
        device = self.column_embedding.device if hasattr(self, "column_embedding") else torch.device("cpu")
        self.vocab = {c: list(vocab.get(c, [])) for c in self.config.categorical}
        self._index = {c: {cat: i + 2 for i, cat in enumerate(cats)} for c, cats in self.vocab.items()}
        self.embeddings = nn.ModuleDict(
            {c: nn.Embedding(2 + len(self.vocab[c]), self.config.dim).to(device) for c in self.config.categorical})
        if self.frozen:
            self.set_frozen(True)

    def preprocessing_state(self) -> dict[str, Any]:
        return {"numeric": {c: [self.means[c], self.stds[c]] for c in self.config.numeric},
                "categorical": self.vocab}

    def preprocessing(self) -> dict[str, Any]:
        """How to build the input tensors outside Python (exported models' JSON; the values are ``learned``)."""
        return {
            "numeric_columns": list(self.config.numeric), "categorical_columns": list(self.config.categorical),
            "numeric": "float32 [batch, columns]: (value - mean) / std with learned.numeric[column] = [mean, std]; "
                       "a missing value is NaN",
            "categorical": f"int64 [batch, columns]: {MISSING} for a missing value, {UNSEEN} for a category not in "
                           "learned.categorical[column], else 2 + its position there",
        }

    def load_preprocessing_state(self, state: dict[str, Any]) -> None:
        for column, (mean, std) in state.get("numeric", {}).items():
            self.means[column], self.stds[column] = float(mean), float(std)
        self._set_vocab(state.get("categorical", {}))

    # ----- data side ------------------------------------------------------------------------------
    def preprocess(self, value: Any, *, train: bool = False) -> dict[str, Tensor]:
        self._check_columns(value)
        numeric = [(_number(value.get(c), c) - self.means[c]) / self.stds[c] for c in self.config.numeric]
        categorical = [MISSING if value.get(c) is None else self._index[c].get(str(value[c]), UNSEEN)
                       for c in self.config.categorical]
        return {"numeric": torch.tensor(numeric, dtype=torch.float32),
                "categorical": torch.tensor(categorical, dtype=torch.long)}

    def example_input(self, rng: random.Random) -> Any:
        value: dict[str, Any] = {c: round(rng.gauss(10, 3), 2) for c in self.config.numeric}
        value.update({c: rng.choice(["red", "green", "blue"]) for c in self.config.categorical})
        if self.config.numeric and rng.random() < 0.3:
            value[self.config.numeric[0]] = None  # missing values happen
        return value

    # ----- model side -----------------------------------------------------------------------------
    def forward(self, inputs: dict[str, Tensor]) -> EncoderOutput:
        numeric, categorical = inputs["numeric"], inputs["categorical"]
        batch = numeric.shape[0] if numeric.ndim == 2 else categorical.shape[0]
        tokens, masks = [], []
        if self.config.numeric:
            missing = torch.isnan(numeric)
            values = torch.nan_to_num(numeric, nan=0.0)  # 0 = the training mean after standardising
            tokens.append(values.unsqueeze(-1) * self.numeric_scale + self.numeric_shift)
            masks.append(~missing if self.config.missing_numeric == "absent" else torch.ones_like(missing))
        for i, column in enumerate(self.config.categorical):
            tokens.append(self.embeddings[column](categorical[:, i]).unsqueeze(1))
            masks.append(torch.ones(batch, 1, dtype=torch.bool, device=categorical.device))
        x = torch.cat(tokens, dim=1) + self.column_embedding
        mask = torch.cat(masks, dim=1)
        weights = mask.unsqueeze(-1).to(x.dtype)
        pooled = self.pool((x * weights).sum(1) / weights.sum(1).clamp(min=1.0))
        return EncoderOutput(pooled, x, mask)

    @classmethod
    def conformance_configs(cls, workdir: Any) -> list[TabularConfig]:
        return [TabularConfig(numeric=["size", "weight"], categorical=["colour"], dim=16),
                TabularConfig(numeric=["size"], missing_numeric="impute_mean", dim=8),
                TabularConfig(categorical=["colour", "shop"], dim=8)]
