"""Frozen encoders run once: their outputs for every distinct value, cached on disk.

The cache folder of an encoder is keyed by a hash of ``encoder.feature_key()`` (class, the config that shapes the
function, a digest of the weights' values: not where the weights came from, so a run reloaded without its weights
files finds what training cached) and the feature dtype (fp16, or fp32 in a ``-fp32`` folder). Inside, each value
is keyed by its modality fingerprint (an image's path, size and modification time; a text's content), so changed
data is recomputed and unchanged data is reused across runs, splits, evaluation and ablation variants.
A shard counts only once its listing exists, so an interrupted extraction keeps what it finished; a damaged one
is dropped and recomputed (:mod:`.feature_shards`). A cache that cannot be written (read-only, full, a file in
the way) still serves what it holds, and the rest is computed without caching, with a warning. Values are
decoded a few batches ahead of the encoder (:func:`decode_threads`).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import MMFusionError, OutputError
from ..interfaces.encoder import Encoder
from ..interfaces.modality import BadValueError, Modality
from ..io import describe_os_error, write_json_atomic
from ..model.batch import in_channels_last
from ..model.featurizer import collate_modality
from .feature_shards import STORED, Shard, open_shard, read_listings, shard_tensors, write_shard
from .feature_store import FeatureStore, ShardFeatures, feature_memory
from .feature_views import SCHEME, view_key, view_seed
from .fingerprints import distinct

SHARD_SIZE = 2048


def default_cache_dir() -> Path:
    return Path(os.environ.get("MMFUSION_CACHE_DIR") or Path.home() / ".cache" / "mmfusion")


def _folder(cache_dir: Path, encoder: Encoder, dtype: str, *, views: bool = False
            ) -> tuple[Path, str | None]:
    """The encoder's cache folder for features stored in ``dtype`` (with ``views``, of its augmented views), and why
    it cannot be written (None when it can); an MMFusionError for a dtype neither fp16 nor fp32. ``encoder.json``
    in it only describes it for people."""
    if dtype not in STORED:
        raise MMFusionError(f"feature dtype {dtype!r} is not one of {', '.join(STORED)} (train.feature_dtype)")
    key = encoder.feature_key()
    if views:
        key = json.dumps({"encoder": json.loads(key), "augmentation": encoder.augmentation_key(),
                          "views": SCHEME}, sort_keys=True)
    name = hashlib.sha256(key.encode()).hexdigest()[:24]
    folder = cache_dir / "features" / (name if dtype == "fp16" else f"{name}-{dtype}")
    described = json.loads(key)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            current = json.loads((folder / "encoder.json").read_bytes().decode("utf-8"))
        except (OSError, ValueError):  # missing, unreadable, not UTF-8, not JSON
            current = None
        if current != described:
            write_json_atomic(folder / "encoder.json", described)
    except (OSError, OutputError) as exc:
        in_the_way = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        if in_the_way is not None:
            return folder, f"{in_the_way} is a file, not a folder"
        return folder, describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
    return folder, None


def _unwritable(folder: Path, reason: str) -> None:
    warnings.warn(f"feature cache {folder} cannot be written ({reason}): features are computed without caching "
                  "this time; set MMFUSION_CACHE_DIR or train.cache_dir to a writable folder", stacklevel=3)


def decode_threads() -> int:
    """Threads that load and preprocess values ahead of the encoder: one per core this process may use.

    Each runs torch single-threaded. On the CPU they share the cores with the encoder: measured on 2 cores they
    were as fast as decoding between the encoder's batches or a little faster (``benchmarks/extraction.py``);
    with the encoder on an accelerator they are what keeps it fed.
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class _Prepared:
    """One batch made ready for the encoder: the values that loaded, as collated inputs, and those that did not."""

    done: list[str]
    inputs: dict[str, Tensor] | None
    failures: dict[str, str]


def _prepare(encoder: Encoder, modality: Modality, part: Sequence[str], wanted: dict[str, Any],
             keep_going: bool, seeds: Mapping[str, int] | None = None) -> _Prepared:
    """Load (decode) and preprocess one batch, as augmented views drawn from ``seeds`` when given; runs in a
    worker thread (Pillow and torch release the GIL)."""
    loaded, failures = {}, {}
    for fp in part:
        try:
            loaded[fp] = modality.load(wanted[fp])
        except BadValueError as exc:
            if not keep_going:
                raise
            failures[fp] = str(exc)
    if not loaded:
        return _Prepared([], None, failures)
    items = encoder.preprocess_batch(list(loaded.values())) if seeds is None else \
        encoder.preprocess_views(list(loaded.values()), [seeds[key] for key in loaded])
    inputs, _ = collate_modality(encoder, items)
    return _Prepared(list(loaded), inputs, failures)


def _prepared(encoder: Encoder, modality: Modality, parts: list[list[str]], wanted: dict[str, Any],
              keep_going: bool, threads: int, seeds: Mapping[str, int] | None = None) -> Iterator[_Prepared]:
    """Each batch prepared, in order; with threads, up to ``threads`` batches ahead while the encoder runs.

    The same calls as one after the other, on the same batches, so the results are identical.
    """
    if threads <= 0:
        yield from (_prepare(encoder, modality, part, wanted, keep_going, seeds) for part in parts)
        return
    intra_op = torch.get_num_threads()
    # one torch thread in each decoding thread: a team of its own per thread would oversubscribe the cores
    with ThreadPoolExecutor(threads, thread_name_prefix="mmfusion-decode",
                            initializer=torch.set_num_threads, initargs=(1,)) as pool:
        ahead: deque[Future[_Prepared]] = deque()
        try:
            for part in parts:
                ahead.append(pool.submit(_prepare, encoder, modality, part, wanted, keep_going, seeds))
                if len(ahead) > threads:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()
        finally:
            for future in ahead:
                future.cancel()
            torch.set_num_threads(intra_op)  # the setting is partly process-wide (MKL, pthreadpool): restored


def _compute(encoder: Encoder, inputs: dict[str, Tensor], device: torch.device, autocast: Callable[[], Any],
             channels_last: bool) -> list[tuple[Tensor, Tensor | None]]:
    inputs = {k: v.to(device) for k, v in inputs.items()}
    if channels_last:
        inputs = in_channels_last(inputs)
    with torch.inference_mode(), autocast():
        out = encoder(inputs)
    pooled = out.pooled.float().cpu()
    if out.tokens is None:
        return [(p, None) for p in pooled]
    tokens, mask = out.as_tokens()
    tokens, mask = tokens.float().cpu(), mask.cpu()
    return [(pooled[i], tokens[i][mask[i]]) for i in range(len(pooled))]


def build_feature_store(
    encoder: Encoder,
    modality: Modality,
    references: Sequence[Any],
    *,
    cache_dir: Path,
    device: torch.device,
    autocast: Callable[[], Any],
    batch_size: int = 64,
    channels_last: bool = False,
    advance: Callable[[int], None] | None = None,
    unusable: dict[str, str] | None = None,
    dtype: str = "fp16",
    memory: int | None = None,
    threads: int | None = None,
    views: int = 1,
    augmented: Sequence[Any] = (),
    tokens: bool = True,
) -> tuple[FeatureStore, dict[str, int], int]:
    """Outputs of ``encoder`` for the distinct ``references``, computing only what the cache lacks: the store, a
    map from fingerprints (and :func:`~.feature_views.view_key` of each view computed) to store rows, and how many
    values and views had to be computed.

    Values that turn out not to load (a truncated image whose header passed the parse-time check) are left out and
    collected in ``unusable`` (fingerprint → message); without it they raise :class:`BadValueError`. A store
    larger than ``memory`` bytes (default :func:`feature_memory`) reads its rows from the shard files on demand;
    with ``tokens`` False it keeps and counts only pooled outputs. ``threads`` decode ahead of the encoder
    (default :func:`decode_threads`; 0: none). With ``views`` > 1, views 1..views-1 of the distinct ``augmented``
    values (the training split's) are cached too (:mod:`.feature_views`).
    """
    threads = decode_threads() if threads is None else threads

    def fill(folder: tuple[Path, str | None], wanted: dict[str, Any], keep_going: bool,
             seeds: Mapping[str, int] | None = None
             ) -> tuple[dict[str, tuple[ShardFeatures, int]], dict[str, str], int]:
        """Where each of ``wanted`` (key → reference) is cached, computing and writing what is missing (as views
        drawn from ``seeds`` when given): key → (shard's features, row), key → message for the values that did not
        load, and how many were computed."""
        (folder, unwritable), width = folder, encoder.output_dim
        if unwritable:
            _unwritable(folder, unwritable)
        index = _cached(folder, wanted, width, dtype)
        missing = [key for key in wanted if key not in index]
        chunks = [missing[start:start + SHARD_SIZE] for start in range(0, len(missing), SHARD_SIZE)]  # a shard each
        parts = [(chunk[b:b + batch_size], b + batch_size >= len(chunk)) for chunk in chunks
                 for b in range(0, len(chunk), batch_size)]  # each batch, and whether it ends its shard
        failures: dict[str, str] = {}
        done: list[str] = []
        outputs: list[tuple[Tensor, Tensor | None]] = []
        batches = _prepared(encoder, modality, [part for part, _ in parts], wanted, keep_going, threads, seeds)
        for (_, last), batch in zip(parts, batches):  # one stream across shards: decoding runs ahead through writes
            if batch.inputs is not None:
                outputs.extend(_compute(encoder, batch.inputs, device, autocast, channels_last))
                done.extend(batch.done)
            failures.update(batch.failures)
            if advance:
                advance(len(batch.done) + len(batch.failures))
            if last and done:
                shard, unwritable = _keep(folder, done, shard_tensors(outputs, dtype), unwritable, width, dtype)
                index.update({key: (shard, row) for row, key in enumerate(done)})
            if last:
                done, outputs = [], []
        if advance and len(wanted) > len(missing):
            advance(len(wanted) - len(missing))
        return index, failures, len(missing) - len(failures)

    wanted = distinct(modality, references)
    encoder.eval()
    index, failures, computed = fill(_folder(cache_dir, encoder, dtype), wanted, unusable is not None)
    if unusable is not None:
        unusable.update(failures)
    for fp in failures:
        del wanted[fp]
    keys = list(wanted)
    if views > 1 and wanted:
        chosen = {fp: wanted[fp] for fp in distinct(modality, augmented) if fp in wanted}
        extra = {view_key(fp, v): ref for fp, ref in chosen.items() for v in range(1, views)}
        seeds = {view_key(fp, v): view_seed(fp, v) for fp in chosen for v in range(1, views)}
        found, lost, count = fill(_folder(cache_dir, encoder, dtype, views=True), extra, True, seeds)
        index.update(found)
        keys += [key for key in extra if key not in lost]  # a view that fails to load: its sample uses view 0
        computed += count
    if not keys:  # every sample lacks this input: one zero row for the (masked) absent samples to point at
        return FeatureStore.empty(encoder.output_dim, encoder.provides_tokens), {}, 0
    store = FeatureStore.of([index[key] for key in keys])
    if store.nbytes(tokens) <= (feature_memory() if memory is None else memory):
        store = store.in_memory(tokens)
    return store, {key: row for row, key in enumerate(keys)}, computed


def _keep(folder: Path, fingerprints: list[str], tensors: dict[str, Tensor], unwritable: str | None, width: int,
          dtype: str) -> tuple[ShardFeatures, str | None]:
    """Write a shard just computed (unless the cache cannot be written) and map it from its file, so that RAM
    does not grow with the data; held in RAM when it could not be written. Returns it and why the cache cannot
    be written (None when it can)."""
    if unwritable is None:
        try:
            written = write_shard(folder, fingerprints, tensors)
        except OutputError as exc:
            unwritable = str(exc)
            _unwritable(folder, unwritable)
        else:
            mapped = open_shard(written, width, dtype)
            if mapped is not None:
                return mapped, None
    return ShardFeatures.in_memory(tensors), unwritable


def _cached(folder: Path, wanted: dict[str, Any], width: int, dtype: str) -> dict[str, tuple[ShardFeatures, int]]:
    """Where the cache holds each wanted value: fingerprint → (shard's features, row).

    Shards that fail their checks are dropped here, so their values count as missing and are computed again.
    """
    index: dict[str, tuple[Shard, int]] = {}
    for shard in read_listings(folder) if folder.is_dir() else []:
        index.update({fp: (shard, row) for row, fp in enumerate(shard.fingerprints)})
    opened: dict[Shard, ShardFeatures | None] = {}
    found: dict[str, tuple[ShardFeatures, int]] = {}
    for fp in filter(index.__contains__, wanted):
        shard, row = index[fp]
        if shard not in opened:  # each shard the run needs is checked once; the others are not read
            opened[shard] = open_shard(shard, width, dtype)
        if (features := opened[shard]) is not None:
            found[fp] = (features, row)
    return found
