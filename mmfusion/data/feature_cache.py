"""Frozen encoders run once: their outputs for every distinct value, cached on disk.

The cache folder of an encoder is keyed by a hash of ``encoder.feature_key()`` (class, config,
digest of the weights), so changing the encoder uses a new folder. Inside, each value is keyed by its
modality fingerprint (an image's path, size and modification time; a text's content), so changed
data is recomputed and unchanged data is reused across runs, splits and ablation variants.
Shards are safetensors files plus a JSON listing of fingerprints, written atomically; a shard counts
only once its listing exists, so an interrupted extraction keeps what it finished. A damaged shard or
listing is dropped with a warning and its values computed again (see :mod:`.feature_shards`); a cache
that cannot be written (read-only, full, a file in the way) still serves what it holds, and the rest is
computed without caching, with a warning naming the folder and the settings that choose another.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..batch import collate_modality
from ..errors import OutputError
from ..interfaces.encoder import Encoder, EncoderOutput
from ..interfaces.modality import BadValueError, Modality
from ..io import describe_os_error, write_json_atomic
from .feature_shards import Shard, load_shard, read_listings, shard_name, shard_tensors, write_shard

SHARD_SIZE = 2048


def default_cache_dir() -> Path:
    return Path(os.environ.get("MMFUSION_CACHE_DIR") or Path.home() / ".cache" / "mmfusion")


@dataclass
class FeatureStore:
    """Encoder outputs of distinct values: pooled ``[U, D]`` and tokens packed as ``[sum T, D]`` + offsets."""

    pooled: Tensor
    tokens: Tensor | None
    offsets: Tensor

    def __len__(self) -> int:
        return int(self.pooled.shape[0])

    def gather(self, rows: Tensor, *, with_tokens: bool = True) -> EncoderOutput:
        """Outputs for ``rows`` (indexes into the store; absent samples may point anywhere)."""
        pooled = self.pooled[rows].float()
        if self.tokens is None or not with_tokens:
            return EncoderOutput(pooled)
        starts, lengths = self.offsets[rows], self.offsets[rows + 1] - self.offsets[rows]
        width = max(int(lengths.max()), 1)
        steps = torch.arange(width)
        mask = steps.unsqueeze(0) < lengths.unsqueeze(1)
        index = (starts.unsqueeze(1) + steps.unsqueeze(0)).clamp(max=max(self.tokens.shape[0] - 1, 0))
        tokens = self.tokens[index].float() * mask.unsqueeze(-1)
        return EncoderOutput(pooled, tokens, mask)


def _folder(cache_dir: Path, encoder: Encoder) -> tuple[Path, str | None]:
    """The encoder's cache folder, and why it cannot be written (None when it can).

    ``encoder.json`` only describes the folder for people; it is rewritten when unreadable or stale.
    """
    key = encoder.feature_key()
    folder = cache_dir / "features" / hashlib.sha256(key.encode()).hexdigest()[:24]
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


def _compute(encoder: Encoder, raw: Sequence[Any], device: torch.device, autocast: Callable[[], Any],
             channels_last: bool) -> list[tuple[Tensor, Tensor | None]]:
    items = encoder.preprocess_batch(raw)
    inputs, _ = collate_modality(encoder, items)
    inputs = {k: v.to(device) for k, v in inputs.items()}
    if channels_last:
        inputs = {k: v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v for k, v in inputs.items()}
    with torch.inference_mode(), autocast():
        out = encoder(inputs)
    pooled = out.pooled.float().cpu()
    results = []
    if out.tokens is None:
        return [(p, None) for p in pooled]
    tokens, mask = out.as_tokens()
    tokens, mask = tokens.float().cpu(), mask.cpu()
    for i in range(len(raw)):
        results.append((pooled[i], tokens[i][mask[i]]))
    return results


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
) -> tuple[FeatureStore, dict[str, int], int]:
    """Outputs of ``encoder`` for the distinct ``references``, computing only what the cache lacks.

    Args:
        unusable: where values that turn out not to load (a truncated image: its header passed the parse-time
            check, its pixels do not decode) are collected, fingerprint → message, and left out of the store;
            without it such a value raises.

    Returns:
        The store, a fingerprint → store-row map, and how many values had to be computed.

    Raises:
        BadValueError: a value does not load and ``unusable`` is None.
    """
    folder, unwritable = _folder(cache_dir, encoder)
    if unwritable:
        _unwritable(folder, unwritable)
    wanted: dict[str, Any] = {}
    for ref in references:
        if ref is not None:
            wanted.setdefault(modality.fingerprint(ref), ref)
    index, data = _cached(folder, wanted, encoder.output_dim)
    missing = [fp for fp in wanted if fp not in index]
    encoder.eval()
    failed: list[str] = []
    for start in range(0, len(missing), SHARD_SIZE):
        chunk = missing[start:start + SHARD_SIZE]
        done: list[str] = []
        outputs: list[tuple[Tensor, Tensor | None]] = []
        for b in range(0, len(chunk), batch_size):
            part = chunk[b:b + batch_size]
            loaded = _load_each(modality, part, wanted, unusable, failed)
            if loaded:
                outputs.extend(_compute(encoder, list(loaded.values()), device, autocast, channels_last))
                done.extend(loaded)
            if advance:
                advance(len(part))
        if not done:
            continue
        tensors = shard_tensors(outputs)
        shard = Shard(shard_name(folder, done), done)
        if unwritable is None:
            try:
                shard = write_shard(folder, done, tensors)
            except OutputError as exc:
                unwritable = str(exc)
                _unwritable(folder, unwritable)
        data[shard.path] = tensors  # the values just computed, whether or not the cache kept them
        index.update({fp: (shard.path, row) for row, fp in enumerate(done)})
    if advance and len(wanted) > len(missing):
        advance(len(wanted) - len(missing))
    for fp in failed:
        del wanted[fp]
    if not wanted:  # every sample lacks this input: one zero row for the (masked) absent samples to point at
        width = encoder.output_dim
        tokens = torch.zeros(1, width, dtype=torch.float16) if encoder.provides_tokens else None
        return FeatureStore(torch.zeros(1, width, dtype=torch.float16), tokens, torch.tensor([0, 1])), {}, 0
    store = _assemble(list(wanted), index, data)
    return store, {fp: row for row, fp in enumerate(wanted)}, len(missing) - len(failed)


def _cached(folder: Path, wanted: dict[str, Any], width: int
            ) -> tuple[dict[str, tuple[Path, int]], dict[Path, dict[str, Tensor]]]:
    """Where the cache holds each wanted value (fingerprint → shard, row) and those shards' tensors.

    Shards that fail their checks are dropped here, so their values count as missing and are computed again.
    """
    index: dict[str, tuple[Shard, int]] = {}
    for shard in read_listings(folder) if folder.is_dir() else []:
        index.update({fp: (shard, row) for row, fp in enumerate(shard.fingerprints)})
    needed = list(dict.fromkeys(index[fp][0] for fp in wanted if fp in index))
    data: dict[Path, dict[str, Tensor]] = {}
    for shard in needed:
        tensors = load_shard(shard, width)
        if tensors is None:
            index = {fp: place for fp, place in index.items() if place[0] is not shard}
        else:
            data[shard.path] = tensors
    return {fp: (shard.path, row) for fp, (shard, row) in index.items() if shard.path in data}, data


def _load_each(modality: Modality, fingerprints: Sequence[str], wanted: dict[str, Any],
               unusable: dict[str, str] | None, failed: list[str]) -> dict[str, Any]:
    """The raw values that load, by fingerprint; failures go to ``unusable`` and ``failed`` (or raise without)."""
    loaded = {}
    for fp in fingerprints:
        try:
            loaded[fp] = modality.load(wanted[fp])
        except BadValueError as exc:
            if unusable is None:
                raise
            unusable[fp] = str(exc)
            failed.append(fp)
    return loaded


def _assemble(fingerprints: list[str], index: dict[str, tuple[Path, int]], shards: dict[Path, dict[str, Tensor]]
              ) -> FeatureStore:
    by_shard: dict[Path, list[tuple[int, int]]] = {}
    for position, fp in enumerate(fingerprints):
        shard, row = index[fp]
        by_shard.setdefault(shard, []).append((position, row))
    pooled: list[Tensor | None] = [None] * len(fingerprints)
    tokens: list[Tensor | None] = [None] * len(fingerprints)
    for shard, wanted in by_shard.items():
        data = shards[shard]
        offsets = None
        if "lengths" in data:
            offsets = torch.zeros(len(data["lengths"]) + 1, dtype=torch.long)
            offsets[1:] = torch.cumsum(data["lengths"], 0)
        for position, row in wanted:
            pooled[position] = data["pooled"][row]
            if offsets is not None:
                tokens[position] = data["tokens"][offsets[row]:offsets[row + 1]]
    has_tokens = all(t is not None for t in tokens)
    offsets = torch.zeros(len(fingerprints) + 1, dtype=torch.long)
    if has_tokens:
        offsets[1:] = torch.cumsum(torch.tensor([t.shape[0] for t in tokens]), 0)  # type: ignore[union-attr]
    return FeatureStore(torch.stack(pooled), torch.cat(tokens) if has_tokens else None, offsets)  # type: ignore
