"""Everything between prepared tables and batches for one model: parsing, caching, loaders."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import DataError
from ..interfaces.modality import BadValueError, Modality
from ..model.multimodal import MultimodalModel
from ..progress import Reporter
from ..registry import Registry, get_registry
from ..spec.data_spec import DataSpec
from .bad_values import bad_value_policies
from .columns import resolve_columns
from .feature_cache import build_feature_store, decode_threads, default_cache_dir
from .feature_views import view_key
from .fingerprints import MemoFingerprints, distinct
from .labels import LabelSet
from .parsing import BadValues, ParsedTable, parse_table
from .samples import CachedModality, Collator, SampleDataset, epoch_order, iterate_batches, pretokenize
from .tables import PreparedTables, without_unlabelled


def modality_handlers(model: MultimodalModel, registry: Registry | None = None) -> dict[str, Modality]:
    """The modality object (how to read cells) for each of the model's inputs, as read for its encoder."""
    registry = registry or get_registry()
    handlers = {}
    for name, encoder in model.encoders.items():
        try:
            modality = registry.get("modality", encoder.modality)()
        except Exception as exc:
            raise DataError(f"encoder '{name}' consumes modality '{encoder.modality}': {exc}") from None
        handlers[name] = modality.for_encoder(encoder)
    return handlers


@dataclass
class DataPipeline:
    """Parsed tables of a run and the machinery to turn them into batches."""

    model: MultimodalModel
    labels: LabelSet
    tables: dict[str, ParsedTable]
    modalities: dict[str, Modality]
    columns: dict[str, list[str]]
    live: list[str]
    cached: dict[str, dict[str, CachedModality]] = field(default_factory=dict)
    pretokenized: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    num_workers: int = 0
    computed: dict[str, int] = field(default_factory=dict)

    def batches(self, split: str, batch_size: int, *, shuffle: bool = False, train: bool = False, seed: int = 0,
                epoch: int = 0, balanced: bool = False, order: torch.Tensor | None = None,
                shard: Any = None) -> Iterator:
        """Batches of a split in epoch order (or ``order``); ``shard`` picks one process's part of it. Training
        batches read the epoch's view of cached features (picked from seed and epoch)."""
        table = self.tables[split]
        labels = torch.from_numpy(table.labels) if table.labels is not None else None
        if order is None:
            order = epoch_order(labels, len(table), seed=seed, epoch=epoch, shuffle=shuffle, balanced=balanced)
        if shard is not None:
            order = shard(order)
        cached = self.cached.get(split, {})
        if train:
            cached = {m: c.for_epoch(m, seed=seed, epoch=epoch) for m, c in cached.items()}
        dataset = SampleDataset(table, self.model.encoders, self.modalities, self.live, train,
                                self.pretokenized.get(split, {}))
        return iterate_batches(dataset, Collator(table, self.model.encoders, self.live, cached), order, batch_size,
                               self.num_workers)

    def num_batches(self, split: str, batch_size: int) -> int:
        return (len(self.tables[split]) + batch_size - 1) // batch_size


def _unusable(modality: Modality, references: Sequence[Any], reporter: Reporter, name: str) -> dict[str, str]:
    """Fingerprint → message for the distinct values that do not load (e.g. an image truncated after its header)."""
    values = distinct(modality, references)
    unusable = {}
    with reporter.task(f"checking {name} values load", len(values)) as advance:
        for fingerprint, ref in values.items():
            try:
                modality.load(ref)
            except BadValueError as exc:
                unusable[fingerprint] = str(exc)
            advance(1)
    return unusable


def _view_rows(fingerprints: Sequence[str | None], positions: Mapping[str, int], views: int) -> torch.Tensor:
    """``[N, views]`` store rows of each sample's views (-1 where absent); a view not computed falls back to view 0."""
    return torch.tensor([[-1] * views if fp is None else
                         [positions[fp], *(positions.get(view_key(fp, v), positions[fp]) for v in range(1, views))]
                         for fp in fingerprints], dtype=torch.long).reshape(len(fingerprints), views)


def _warn_absent(tables: Mapping[str, ParsedTable], modalities: Mapping[str, Modality], reporter: Reporter) -> None:
    for split, table in tables.items():
        for m, messages in table.bad.items():
            reporter.warn(f"{split}: {len(messages)} unusable '{m}' value(s) treated as absent "
                          f"(data.on_bad_value: absent for '{m}'), e.g. {messages[0]}")
        nothing = sum(1 for i in range(len(table)) if all(table.references[m][i] is None for m in modalities))
        if nothing:
            reporter.warn(f"{split}: {nothing} row(s) have no modality at all; the model sees only placeholders")


def auto_workers(live: Sequence[str], pretokenized: Collection[str], device: torch.device | None = None,
                 cores: int | None = None) -> int:
    """Loader processes only when live modalities need per-sample work and spare cores exist.

    On the CPU the model needs the cores too: half of them decode (at most 4), none on 2 cores or fewer.
    With the model on an accelerator the cores only feed it: all but one decode (at most 8).
    """
    per_sample = [m for m in live if m not in pretokenized]
    cores = decode_threads() if cores is None else cores  # the cores this process may use
    if not per_sample or cores <= 1:
        return 0
    if device is not None and device.type != "cpu":
        return min(8, cores - 1)
    return 0 if cores <= 2 else min(4, cores // 2)


def build_pipeline(
    model: MultimodalModel,
    data: DataSpec,
    prepared: PreparedTables,
    labels: LabelSet | None,
    *,
    splits: Sequence[str] | None = None,
    cache: bool = True,
    cache_dir: Path | None = None,
    device: torch.device | None = None,
    autocast: Any = None,
    channels_last: Sequence[str] = (),
    feature_dtype: str = "fp16",
    num_workers: int | None = None,
    reporter: Reporter | None = None,
    registry: Registry | None = None,
    modality_overrides: Mapping[str, Modality] | None = None,
    fit_split: str | None = None,
) -> DataPipeline:
    """Parse the tables, run frozen encoders once (cached), pre-tokenise text; ready to batch.

    ``modality_overrides`` replaces how some inputs are read (e.g. corrupted for robustness curves).
    ``feature_dtype`` (``train.feature_dtype``: fp16 or fp32) is how frozen encoders' features are cached.
    ``channels_last`` names the inputs whose encoders run in that layout (the engine's ``channels_last``).
    With ``fit_split``, encoders that learn their preprocessing from data (standardisation,
    vocabularies) fit it on that split's values first.
    """
    import contextlib

    reporter = reporter or Reporter(enabled=False)
    device = device or torch.device("cpu")
    autocast = autocast or contextlib.nullcontext
    modalities = {**modality_handlers(model, registry), **(modality_overrides or {})}
    splits = [s for s in (splits or list(prepared.tables)) if s in prepared.tables]
    columns = resolve_columns(model.encoders, modalities, data.columns, prepared.columns,
                              prepared.tables[splits[0]].columns, prepared.names.get(splits[0], splits[0]))
    label_column = prepared.label_column
    policies = bad_value_policies(data, list(model.encoders))
    tables: dict[str, ParsedTable] = {}
    for split in splits:
        table = prepared.tables[split]
        labelled = labels is not None and label_column in table.columns
        if labelled:  # tables given later, e.g. evaluate --data
            notes: list[str] = []
            table = without_unlabelled(table, label_column, prepared.names.get(split, split), prepared.row_kind,
                                       data.unlabelled, notes, split).reset_index(drop=True)
            for note in notes:
                reporter.warn(note)
        tables[split] = parse_table(
            table, split=split, source=prepared.names.get(split, split), modalities=modalities, columns=columns,
            root=prepared.root, on_bad_value=policies, labels=labels,
            label_column=label_column if labelled else None,
            row_kind=prepared.row_kind,
        )
    # frozen encoders are cached, unless they augment afresh each epoch (augmentation without cached views)
    cached_names = [m for m, enc in model.encoders.items()
                    if cache and enc.frozen and (not enc.augments() or enc.augment_views() is not None)]
    live = [m for m in model.encoders if m not in cached_names]
    for m in live if fit_split is not None else []:
        if model.encoders[m].augment_views() is not None:
            why = "not frozen" if not model.encoders[m].frozen else "train.cache_features is false"
            reporter.warn(f"{m}: augment.views caches views of a frozen encoder's features, and this encoder's are "
                          f"not cached ({why}): its training samples are augmented afresh each epoch instead")
    settle = BadValues(tables, modalities, columns, policies, prepared.row_kind)
    for m in model.encoders:  # decode once up front what is decoded per epoch or fitted on, so failures name rows
        if (m in live or (fit_split is not None and model.encoders[m].learns_preprocessing())) \
                and type(modalities[m]).load is not Modality.load:
            settle(m, _unusable(modalities[m], [r for t in tables.values() for r in t.references[m]], reporter, m))

    for m, encoder in model.encoders.items() if fit_split is not None else []:
        if encoder.learns_preprocessing():
            encoder.fit_preprocessing([modalities[m].load(r) for r in tables[fit_split].references[m] if r is not None])
            encoder.to(device)
    pipeline = DataPipeline(model, labels or LabelSet([]), tables, modalities, columns, live)
    for m in cached_names:
        encoder, modality = model.encoders[m], MemoFingerprints(modalities[m])
        references = [ref for t in tables.values() for ref in t.references[m]]
        values = len(distinct(modality, references))
        views = (encoder.augment_views() or 1) if fit_split is not None else 1  # evaluation reads the clean view
        augmented = tables[fit_split].references[m] if views > 1 else []  # type: ignore[index]
        extra = len(distinct(modality, augmented)) * (views - 1)
        unusable: dict[str, str] = {}
        with reporter.task(f"encoding {m} ({encoder.config.type}, cached)", values + extra) as advance:
            store, positions, computed = build_feature_store(
                encoder.to(device), modality, references, cache_dir=cache_dir or default_cache_dir(), device=device,
                autocast=autocast, channels_last=m in channels_last,
                advance=advance, unusable=unusable, dtype=feature_dtype, views=views,
                augmented=augmented, tokens=model.fusion.uses_tokens)
        settle(m, unusable)
        pipeline.computed[m] = computed
        reporter.log(f"{m}: {values} distinct values" + (f" and {extra} augmented views" if extra else "")
                     + f", {computed} encoded now, {values + extra - computed - len(unusable)} from the cache"
                     + (" (more than MMFUSION_FEATURE_MEMORY: read from disk as batches need them)" if store.mapped
                        else ""))
        for split, table in tables.items():
            fingerprints = [None if r is None else modality.fingerprint(r) for r in table.references[m]]
            rows = _view_rows(fingerprints, positions, views if split == fit_split else 1)
            pipeline.cached.setdefault(split, {})[m] = CachedModality(
                store, rows[:, 0], model.fusion.uses_tokens, rows if rows.shape[1] > 1 else None)
    for m in live:
        encoder = model.encoders[m]
        if encoder.preprocess_up_front and not encoder.augments():
            for split, table in tables.items():
                pipeline.pretokenized.setdefault(split, {})[m] = pretokenize(encoder, modalities[m],
                                                                               table.references[m])
    _warn_absent(tables, modalities, reporter)
    for m in cached_names:  # read by store index from now on: each row's value is no longer needed
        for table in tables.values():
            table.release(m)
    pipeline.num_workers = num_workers if num_workers is not None else auto_workers(
        live, {m for s in pipeline.pretokenized.values() for m in s}, device)
    return pipeline
