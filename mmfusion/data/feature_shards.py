"""Shards of the feature cache on disk, checked when opened so that a damaged one is dropped and recomputed.

A shard is ``shard-<id>.safetensors`` (``pooled`` ``[N, D]`` in the cache folder's dtype, fp16 or fp32; with tokens
also ``tokens`` ``[sum T, D]`` and ``lengths`` ``[N]``) plus its listing ``shard-<id>.json``, written after it:
``{"format": 2, "fingerprints": [...], "rows": N, "token_rows": sum T or null, "bytes": file size}``.

Opening a shard (:func:`open_shard`) reads only the header, the lengths and the pooled features, which must be
finite (overwritten fp16 bytes almost surely hold a NaN or inf): the tokens, most of the bytes, stay on disk and are
read row by row when a batch needs them (:class:`ShardFeatures`). No checksum: hashing a 2048-row shard of 1280-d
fp16 features (11-262 MB with 1-49 tokens a row) took 25-240 % as long as assembling the store from it (sha256;
blake2b about twice that), measured on the 2-core CPU of CI, so every training start would pay it.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import MMFusionError
from ..io import write_json_atomic, write_safetensors_atomic
from .feature_store import ShardFeatures, Span

FORMAT = 2


@dataclass(eq=False)
class Shard:
    """One shard as its listing describes it: its tensors' file, its rows, the file's size and its token rows."""

    path: Path
    fingerprints: list[str]
    size: int
    token_rows: int | None = None

    @property
    def listing(self) -> Path:
        return self.path.with_suffix(".json")


def drop(listing: Path, reason: str) -> None:
    """Delete a damaged shard and its listing (best effort: a read-only cache keeps them) and say so."""
    tensors = listing.with_suffix(".safetensors")
    for path in (listing, tensors):  # the listing first: without it the shard no longer counts
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
    warnings.warn(f"feature cache: dropped shard {tensors} ({reason}); its values are computed again when needed",
                  stacklevel=3)


def _parse_listing(listing: Path) -> Shard:
    """The listing's shard; ``ValueError`` says why the listing (or its shard's file) is unusable."""
    try:
        content = json.loads(listing.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"listing {listing.name} is unreadable: {type(exc).__name__}: {exc}") from None
    if not isinstance(content, dict):
        raise ValueError(f"listing {listing.name} does not hold an object")
    fingerprints, size, token_rows = content.get("fingerprints"), content.get("bytes"), content.get("token_rows")
    if not (isinstance(size, int) and isinstance(token_rows, int | None) and isinstance(fingerprints, list)
            and len(fingerprints) == content.get("rows")):
        raise ValueError(f"listing {listing.name} lacks or contradicts its rows, token_rows or bytes")
    if not fingerprints or not all(isinstance(fp, str) for fp in fingerprints):
        raise ValueError(f"listing {listing.name} does not list fingerprint strings")
    if not listing.with_suffix(".safetensors").is_file():
        raise ValueError("its .safetensors file is missing")
    return Shard(listing.with_suffix(".safetensors"), fingerprints, size, token_rows)


def read_listings(folder: Path) -> list[Shard]:
    """The shards of a cache folder whose listing is sound and whose file exists (the rest are dropped)."""
    shards = []
    for listing in sorted(folder.glob("shard-*.json")):
        try:
            shards.append(_parse_listing(listing))
        except ValueError as exc:
            drop(listing, str(exc))
    return shards


#: the stored dtype (safetensors' name) of each ``train.feature_dtype``
STORED = {"fp16": "F16", "fp32": "F32"}


def _spans(path: Path) -> dict[str, Span]:
    """The tensors of a safetensors file that :func:`safetensors.safe_open` has already parsed."""
    with open(path, "rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(size))
    return {name: Span(str(v["dtype"]), tuple(int(n) for n in v["shape"]), 8 + size + int(v["data_offsets"][0]),
                       8 + size + int(v["data_offsets"][1]))
            for name, v in header.items() if name != "__metadata__"}


def _checked(shard: Shard, width: int, dtype: str) -> ShardFeatures | str:
    """The shard's features, mapped, or what is wrong with it."""
    from safetensors import safe_open

    size = shard.path.stat().st_size
    if size != shard.size:
        return f"{size} bytes, the listing records {shard.size}: truncated or overwritten"
    with safe_open(str(shard.path), framework="numpy"):  # parses the header and checks it covers the file
        pass
    spans, rows, stored = _spans(shard.path), len(shard.fingerprints), STORED[dtype]
    expected = {"pooled": (stored, (rows, width))}
    if shard.token_rows is not None:
        expected.update(tokens=(stored, (shard.token_rows, width)), lengths=("I64", (rows,)))
    found = {name: (span.dtype, span.shape) for name, span in spans.items()}
    if found != expected:
        return f"its tensors (dtype, shape) are {found}; the listing, the encoder and the {dtype} folder say {expected}"
    lengths = None
    if "lengths" in spans:
        lengths = np.fromfile(shard.path, dtype=np.int64, count=rows, offset=spans["lengths"].start)
        if bool((lengths < 0).any()) or int(lengths.sum()) != spans["tokens"].shape[0]:
            return f"'lengths' do not add up to the {spans['tokens'].shape[0]} token rows"
    features = ShardFeatures(lengths, rows=rows, width=width, path=shard.path, spans=spans)
    if not np.isfinite(features.arrays()[0].sum(dtype=np.float32)):  # one pass; finite fp16 never sums to inf
        return "'pooled' holds NaN or infinite values"
    return features


def open_shard(shard: Shard, width: int, dtype: str = "fp16") -> ShardFeatures | None:
    """The shard's features, mapped from its file, or None after dropping it (with a warning) when a check fails;
    ``width`` is the encoder's, ``dtype`` the cache folder's."""
    from safetensors import SafetensorError

    try:
        checked = _checked(shard, width, dtype)
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as exc:
        checked = f"corrupt or truncated: {type(exc).__name__}: {exc}"
    if isinstance(checked, str):
        drop(shard.listing, checked)
        return None
    return checked


def shard_tensors(outputs: list[tuple[Tensor, Tensor | None]], dtype: str = "fp16") -> dict[str, Tensor]:
    """Encoder outputs (pooled, tokens or None per value) as a shard's tensors, in ``dtype`` (fp16 or fp32).

    Raises:
        MMFusionError: finite outputs beyond fp16's range (±65504) would be stored as infinities.
    """
    kind = {"fp16": torch.float16, "fp32": torch.float32}[dtype]
    full = {"pooled": torch.stack([p for p, _ in outputs])}
    if outputs[0][1] is not None:
        full["tokens"] = torch.cat([t for _, t in outputs])  # type: ignore[misc]
    tensors = {name: value.to(kind).contiguous() for name, value in full.items()}
    for name, value in full.items():
        if kind == torch.float16 and not bool(torch.isfinite(tensors[name]).all()) \
                and bool(torch.isfinite(value).all()):
            raise MMFusionError(f"the encoder's {name} outputs reach {float(value.abs().max()):.4g}, beyond fp16's "
                                "range (±65504), so the feature cache cannot store them in fp16: set "
                                "train.feature_dtype: fp32")
    if "tokens" in full:
        tensors["lengths"] = torch.tensor([t.shape[0] for _, t in outputs], dtype=torch.long)  # type: ignore[union-attr]
    return tensors


def write_shard(folder: Path, fingerprints: list[str], tensors: dict[str, Tensor]) -> Shard:
    """Write the tensors, then the listing that makes them count (both atomically; OutputError if they cannot)."""
    path = folder / f"shard-{hashlib.sha1(''.join(fingerprints).encode()).hexdigest()[:16]}.safetensors"
    write_safetensors_atomic(path, tensors)
    token_rows = int(tensors["tokens"].shape[0]) if "tokens" in tensors else None
    shard = Shard(path, fingerprints, path.stat().st_size, token_rows)
    write_json_atomic(shard.listing, {"format": FORMAT, "fingerprints": fingerprints, "rows": len(fingerprints),
                                      "token_rows": token_rows, "bytes": shard.size})
    return shard
