"""The one featurizer: raw values (or preprocessed items) of any set of encoders → a :class:`Batch`.

Training's collator, validation, evaluation, prediction, export and the int8 check all build batches here, so an
absent input is filled the same way everywhere (:func:`absent_filler`) and only the ``present`` mask says it is
absent.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..interfaces.encoder import Encoder
from .batch import Batch

if TYPE_CHECKING:
    from .multimodal import MultimodalModel


def absent_filler(encoder: Encoder) -> dict[str, Tensor]:
    """What absent rows hold when no sample of a batch has the input: the encoder's first example, preprocessed
    (rows with the input give absent rows a copy of the first present one instead)."""
    return encoder.preprocess(encoder.example_input(random.Random(0)))


def collate_modality(encoder: Encoder, items: Sequence[dict[str, Tensor] | None],
                     filler: dict[str, Tensor] | None = None) -> tuple[dict[str, Tensor], Tensor]:
    """One input's preprocessed items (None: the sample lacks it) collated by its encoder (which pads and stacks),
    and the bool presence mask ``[B]``. ``filler``: :func:`absent_filler`'s result, when the caller keeps it."""
    present = torch.tensor([item is not None for item in items], dtype=torch.bool)
    first = next((item for item in items if item is not None), None)
    if first is None:
        first = filler if filler is not None else absent_filler(encoder)
    return encoder.collate([item if item is not None else first for item in items]), present


def make_batch(
    model: MultimodalModel, samples: Sequence[Mapping[str, Any]], labels: Sequence[int] | None = None
) -> Batch:
    """Preprocess and collate raw samples (modality → raw value, missing or None = absent)."""
    inputs, present = {}, {}
    for modality, encoder in model.encoders.items():
        values = [sample.get(modality) for sample in samples]
        given = [v for v in values if v is not None]
        processed = iter(encoder.preprocess_batch(given) if given else [])
        inputs[modality], present[modality] = collate_modality(
            encoder, [None if v is None else next(processed) for v in values])
    label_tensor = torch.tensor(list(labels), dtype=torch.long) if labels is not None else None
    return Batch(inputs=inputs, present=present, labels=label_tensor)


def example_batch(model: MultimodalModel, size: int = 4, *, with_absent: bool = True, seed: int = 0) -> Batch:
    """A small batch of example inputs; with ``with_absent`` sample i lacks modality i (cyclically).

    Sample 0 always has every modality, so a single-modality model still sees a present row.
    """
    rng = random.Random(seed)
    modalities = list(model.encoders)
    samples = []
    for i in range(size):
        sample = {m: enc.example_input(rng) for m, enc in model.encoders.items()}
        if with_absent and i > 0 and len(modalities) > 1:
            sample[modalities[(i - 1) % len(modalities)]] = None
        samples.append(sample)
    return make_batch(model, samples)
