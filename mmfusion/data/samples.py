"""Rows → batches: per-sample preprocessing (in loader workers), collation, cached features by index."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ..interfaces.encoder import Encoder
from ..interfaces.modality import Modality
from ..model.batch import Batch
from ..model.featurizer import absent_filler, collate_modality
from .feature_store import FeatureStore
from .feature_views import view_choice
from .fingerprints import distinct
from .parsing import ParsedTable


def pretokenize(encoder: Encoder, modality: Modality, references: Sequence[Any]) -> list[Any]:
    """Preprocess each distinct value once (tokenising text is cheap in bulk, wasteful per epoch)."""
    values = distinct(modality, references)
    items = encoder.preprocess_batch([modality.load(ref) for ref in values.values()]) if values else []
    by_key = dict(zip(values, items))
    return [None if ref is None else by_key[modality.fingerprint(ref)] for ref in references]


@dataclass
class CachedModality:
    """A frozen encoder's outputs for one table: the store and each row's index into it."""

    store: FeatureStore
    rows: Tensor  # [N] long, -1 where absent
    with_tokens: bool
    #: ``[N, K]`` each row's store index for each of K cached views (column 0: ``rows``), or None
    views: Tensor | None = None

    def for_epoch(self, name: str, *, seed: int, epoch: int) -> CachedModality:
        """The rows this epoch's training batches read: one view per sample, picked from (seed, epoch)."""
        if self.views is None:
            return self
        choice = view_choice(len(self.rows), self.views.shape[1], seed=seed, epoch=epoch, name=name)
        return CachedModality(self.store, self.views[torch.arange(len(self.rows)), choice], self.with_tokens)


@dataclass(eq=False)
class SampleDataset(Dataset):
    """Item i: ``(i, {modality: preprocessed item or None})`` for the modalities run ``live``."""

    table: ParsedTable
    encoders: Mapping[str, Encoder]
    modalities: Mapping[str, Modality]
    live: Sequence[str]
    train: bool
    pretokenized: Mapping[str, list[Any]]

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: int) -> tuple[int, dict[str, Any]]:
        items: dict[str, Any] = {}
        for m in self.live:
            if m in self.pretokenized:
                items[m] = self.pretokenized[m][i]
                continue
            ref = self.table.references[m][i]
            items[m] = None if ref is None else self.encoders[m].preprocess(
                self.modalities[m].load(ref), train=self.train)
        return i, items


class Collator:
    """Builds a :class:`Batch`: live modalities collated, cached ones gathered, presence and labels."""

    def __init__(self, table: ParsedTable, encoders: Mapping[str, Encoder], live: Sequence[str],
                 cached: Mapping[str, CachedModality]) -> None:
        self.encoders = encoders
        self.live = list(live)
        self.cached = dict(cached)
        #: :func:`absent_filler` of the live inputs that a whole batch lacked
        self.fillers: dict[str, dict[str, Tensor]] = {}
        self.labels = torch.from_numpy(table.labels) if table.labels is not None else None

    def __call__(self, samples: Sequence[tuple[int, dict[str, Any]]]) -> Batch:
        indices = torch.tensor([i for i, _ in samples], dtype=torch.long)
        inputs, present, features = {}, {}, {}
        for m in self.live:
            column = [items[m] for _, items in samples]
            if all(item is None for item in column) and m not in self.fillers:  # built once, on first need
                self.fillers[m] = absent_filler(self.encoders[m])
            inputs[m], present[m] = collate_modality(self.encoders[m], column, self.fillers.get(m))
        for m, cached in self.cached.items():
            rows = cached.rows[indices]
            present[m] = rows >= 0
            features[m] = cached.store.gather(rows.clamp(min=0), with_tokens=cached.with_tokens)
        labels = self.labels[indices] if self.labels is not None else None
        return Batch(inputs=inputs, present={m: present[m] for m in sorted(present)}, labels=labels,
                     features=features)


def epoch_order(labels: Tensor | None, n: int, *, seed: int, epoch: int, shuffle: bool, balanced: bool) -> Tensor:
    """The order samples are visited in one epoch: deterministic given (seed, epoch)."""
    if not shuffle:
        return torch.arange(n)
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    if balanced and labels is not None:
        counts = torch.bincount(labels)
        weights = 1.0 / counts[labels].double()
        return torch.multinomial(weights, n, replacement=True, generator=generator)
    return torch.randperm(n, generator=generator)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # workers decode and transform images; the main process owns the cores


def iterate_batches(dataset: SampleDataset, collator: Collator, order: Tensor, batch_size: int,
                    num_workers: int) -> Iterator[Batch]:
    """Batches in ``order``; without live modalities no loader processes are needed at all."""
    batches = [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    if not dataset.live or num_workers == 0:
        for indices in batches:
            yield collator([dataset[i] for i in indices])
        return
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collator, num_workers=num_workers,
                        worker_init_fn=_worker_init, persistent_workers=False)
    yield from loader
