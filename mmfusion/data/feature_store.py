"""The cached features of one frozen encoder for a run's tables, gathered a batch at a time.

Memory must not grow with the data: a million distinct texts with token outputs are ~15 GB of fp16. So a
store whose features fit ``MMFUSION_FEATURE_MEMORY`` (default 1 GiB per store) is gathered into RAM once, and
a larger one stays in its shard files, memory-mapped, each batch reading only its rows; the operating system's
page cache keeps what is read often. Both gather the same values (fp16 or fp32 as stored, returned as fp32).
Reading rows through a numpy memory map was as fast as indexing a tensor in RAM once the pages were cached,
and several times faster than safetensors' ``get_slice`` (one call per row for tokens); see
``benchmarks/feature_store.py``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import MMFusionError
from ..interfaces.encoder import EncoderOutput

MEMORY_ENV = "MMFUSION_FEATURE_MEMORY"
DEFAULT_MEMORY = 1 << 30
#: safetensors dtype names → numpy dtypes of the tensors a shard may hold
DTYPES = {"F16": np.float16, "F32": np.float32, "I64": np.int64}
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12,
          "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def feature_memory() -> int:
    """Bytes of features one store may hold in RAM: ``MMFUSION_FEATURE_MEMORY`` (``512MB``, ``2GiB``, ``0``).

    Raises:
        MMFusionError: the variable is not an amount of memory.
    """
    raw = os.environ.get(MEMORY_ENV, "").strip()
    if not raw:
        return DEFAULT_MEMORY
    match = re.fullmatch(r"(\d+(?:\.\d*)?)\s*([a-z]*)", raw.lower())
    if match is None or match.group(2) not in _UNITS:
        raise MMFusionError(f"{MEMORY_ENV}={raw!r} is not an amount of memory: write bytes or a size such as "
                            "512MB or 2GiB (0 reads every cached feature from disk)")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


@dataclass(frozen=True)
class Span:
    """One tensor of a safetensors file: its dtype name, shape and byte range in the file."""

    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenated ``range(start, start + length)`` of each pair, without a Python loop."""
    before = np.cumsum(lengths) - lengths
    return np.repeat(starts - before, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)


class ShardFeatures:
    """One shard's features, read row by row: held in RAM, or mapped from the shard's file.

    A mapped shard keeps only its token offsets in memory; its file is mapped on first use in each process
    (pickling drops the map), so data-loader workers, forked or spawned, map it themselves.
    """

    def __init__(self, lengths: np.ndarray | None, *, rows: int, width: int, path: Path | None = None,
                 spans: dict[str, Span] | None = None, held: dict[str, Tensor] | None = None) -> None:
        self.rows, self.width, self.path = rows, width, path
        self._spans = spans or {}
        #: the tensors of a shard held in RAM (``pooled``, ``tokens``, ``lengths``); None when mapped
        self.tensors = held
        self._arrays: tuple[np.ndarray, np.ndarray | None] | None = None
        self.offsets: np.ndarray | None = None
        if lengths is not None:
            self.offsets = np.zeros(rows + 1, dtype=np.int64)
            np.cumsum(lengths, out=self.offsets[1:])

    @classmethod
    def in_memory(cls, tensors: dict[str, Tensor]) -> ShardFeatures:
        """A shard held in RAM: ``pooled`` ``[N, D]``, and ``tokens`` ``[sum T, D]`` with ``lengths`` ``[N]``."""
        pooled = tensors["pooled"]
        lengths = tensors["lengths"].numpy() if "lengths" in tensors else None
        return cls(lengths, rows=int(pooled.shape[0]), width=int(pooled.shape[1]), held=tensors)

    @property
    def has_tokens(self) -> bool:
        return self.offsets is not None

    @property
    def dtype(self) -> np.dtype:
        """The stored dtype of the features, fp16 or fp32."""
        return self.arrays()[0].dtype

    def token_counts(self, rows: np.ndarray) -> np.ndarray:
        return self.offsets[rows + 1] - self.offsets[rows]  # type: ignore[index]

    def arrays(self) -> tuple[np.ndarray, np.ndarray | None]:
        """``pooled`` ``[N, D]`` and ``tokens`` ``[sum T, D]`` (or None), in the stored dtype."""
        if self._arrays is None:
            if self.tensors is not None:
                tokens = self.tensors.get("tokens")
                self._arrays = (self.tensors["pooled"].numpy(), None if tokens is None else tokens.numpy())
            else:
                self._arrays = self._map()
        return self._arrays

    def _map(self) -> tuple[np.ndarray, np.ndarray | None]:
        again = "run the command again: its values are then computed again"
        try:
            whole = np.memmap(self.path, dtype=np.uint8, mode="r")  # type: ignore[arg-type]
        except (OSError, ValueError) as exc:
            raise MMFusionError(f"feature cache shard {self.path} went away while in use ({exc}); {again}") from None

        def view(name: str) -> np.ndarray:
            span = self._spans[name]
            if span.end > whole.shape[0]:
                raise MMFusionError(f"feature cache shard {self.path} was cut short while in use; {again}")
            return whole[span.start:span.end].view(DTYPES[span.dtype]).reshape(span.shape)

        return view("pooled"), view("tokens") if "tokens" in self._spans else None

    def read(self, rows: np.ndarray, with_tokens: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The rows' pooled ``[n, D]``; with tokens also their token rows packed ``[sum T, D]`` and lengths."""
        pooled, tokens = self.arrays()
        if not with_tokens or tokens is None or self.offsets is None:
            return pooled[rows], None, None
        lengths = self.token_counts(rows)
        return pooled[rows], tokens[ranges(self.offsets[rows], lengths)], lengths

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_arrays": None}  # numpy would pickle a map by copying it: reopened on use


class FeatureStore:
    """Encoder outputs of distinct values: store row → (shard, row in it), gathered by :meth:`gather`."""

    def __init__(self, shards: list[ShardFeatures], shard_of: np.ndarray, row_in: np.ndarray) -> None:
        self.shards = shards
        self.shard_of = shard_of.astype(np.int32)
        self.row_in = row_in.astype(np.int64)
        self.width = shards[0].width
        self.has_tokens = all(s.has_tokens for s in shards)
        #: one shard in RAM in store order (as :meth:`in_memory` makes): gathered by indexing its tensors directly
        self._direct = not self.mapped and len(shards) == 1 and np.array_equal(self.row_in, np.arange(len(row_in)))

    @classmethod
    def of(cls, places: list[tuple[ShardFeatures, int]]) -> FeatureStore:
        """A store whose row i is ``places[i]``: a row of a shard."""
        shards = list({id(shard): shard for shard, _ in places}.values())
        numbers = {id(shard): i for i, shard in enumerate(shards)}
        shard_of = np.fromiter((numbers[id(s)] for s, _ in places), dtype=np.int32, count=len(places))
        return cls(shards, shard_of, np.fromiter((r for _, r in places), dtype=np.int64, count=len(places)))

    @classmethod
    def empty(cls, width: int, tokens: bool) -> FeatureStore:
        """One zero row (one zero token), for the absent samples of an input no sample has to point at."""
        tensors = {"pooled": torch.zeros(1, width, dtype=torch.float16)}
        if tokens:
            tensors.update(tokens=torch.zeros(1, width, dtype=torch.float16), lengths=torch.ones(1, dtype=torch.long))
        return cls([ShardFeatures.in_memory(tensors)], np.zeros(1), np.zeros(1))

    def __len__(self) -> int:
        return int(self.shard_of.shape[0])

    @property
    def mapped(self) -> bool:
        """Whether some rows are read from disk on demand."""
        return any(s.tensors is None for s in self.shards)

    def nbytes(self, tokens: bool = True) -> int:
        """Bytes the store's rows (pooled, and tokens unless ``tokens`` is False) take in memory in their stored
        dtype."""
        groups = self._groups(np.arange(len(self))) if self.has_tokens and tokens else []
        count = len(self) + int(self._token_counts(groups, len(self)).sum())
        return count * self.width * self.shards[0].dtype.itemsize

    def _groups(self, rows: np.ndarray) -> list[tuple[ShardFeatures, np.ndarray, np.ndarray]]:
        """(shard, positions in ``rows``, rows of that shard in ascending order) for each shard ``rows`` touch."""
        which, local = self.shard_of[rows], self.row_in[rows]
        order = np.lexsort((local, which))  # ascending rows in each shard: reads go forward through the file
        which, local = which[order], local[order]
        cuts = np.flatnonzero(np.diff(which)) + 1
        return [(self.shards[int(w[0])], pos, loc) for w, pos, loc in
                zip(np.split(which, cuts), np.split(order, cuts), np.split(local, cuts))]

    @staticmethod
    def _token_counts(groups: list[tuple[ShardFeatures, np.ndarray, np.ndarray]], count: int) -> np.ndarray:
        lengths = np.zeros(count, dtype=np.int64)
        for shard, positions, local in groups:
            lengths[positions] = shard.token_counts(local)
        return lengths

    def _select(self, rows: np.ndarray, tokens: bool, pad: bool = False
                ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The rows' pooled ``[n, D]``, their tokens (None without ``tokens``) and token counts, in the stored
        dtype: tokens packed in row order ``[sum T, D]``, or with ``pad`` in ``[n * T_max, D]`` zero-padded rows.
        Each shard's rows are written straight into place."""
        groups = self._groups(rows) if len(rows) else []
        lengths = self._token_counts(groups if tokens else [], len(rows))
        width = max(int(lengths.max()) if len(rows) else 0, 1)
        starts = np.arange(len(rows), dtype=np.int64) * width if pad else np.cumsum(lengths) - lengths
        pooled = np.empty((len(rows), self.width), dtype=self.shards[0].dtype)
        size = len(rows) * width if pad else int(lengths.sum())
        placed = (np.zeros if pad else np.empty)((size, self.width), dtype=pooled.dtype) if tokens else None
        for shard, positions, local in groups:
            values, found, counts = shard.read(local, tokens)
            pooled[positions] = values
            if placed is not None:
                placed[ranges(starts[positions], counts)] = found
        return pooled, placed, lengths

    def gather(self, rows: Tensor, *, with_tokens: bool = True) -> EncoderOutput:
        """Outputs for ``rows`` (indexes into the store; absent samples may point anywhere), in fp32."""
        with_tokens = with_tokens and self.has_tokens
        rows = torch.as_tensor(rows, dtype=torch.long)
        if self._direct:
            return self._gather_direct(rows, with_tokens)
        pooled, padded, lengths = self._select(rows.numpy(), with_tokens, pad=True)  # stored dtype, converted once
        if padded is None:
            return EncoderOutput(torch.from_numpy(pooled).float())
        width = padded.shape[0] // len(rows) if len(rows) else 1
        mask = torch.arange(width).unsqueeze(0) < torch.from_numpy(lengths).unsqueeze(1)
        tokens = torch.from_numpy(padded).float().view(len(rows), width, self.width)
        return EncoderOutput(torch.from_numpy(pooled).float(), tokens, mask)

    def _gather_direct(self, rows: Tensor, with_tokens: bool) -> EncoderOutput:
        """:meth:`gather` on one shard in RAM: torch indexing, several times faster for small batches."""
        shard = self.shards[0]
        held = shard.tensors or {}
        pooled = held["pooled"][rows].float()
        if not with_tokens:
            return EncoderOutput(pooled)
        offsets = torch.from_numpy(shard.offsets)  # type: ignore[arg-type]
        starts, lengths = offsets[rows], offsets[rows + 1] - offsets[rows]
        width = max(int(lengths.max()) if len(rows) else 0, 1)
        steps = torch.arange(width)
        mask = steps.unsqueeze(0) < lengths.unsqueeze(1)
        tokens = held["tokens"]
        index = (starts.unsqueeze(1) + steps.unsqueeze(0)).clamp(max=max(tokens.shape[0] - 1, 0))
        return EncoderOutput(pooled, tokens[index].float() * mask.unsqueeze(-1), mask)

    def in_memory(self, tokens: bool = True) -> FeatureStore:
        """The same rows read into one shard in RAM, in store order (the fastest to gather from).

        ``tokens=False`` leaves the token outputs out (for users that gather pooled outputs only). Each shard's
        rows are written straight into place, so reading takes no more memory than the result.
        """
        count = len(self)
        pooled, packed, lengths = self._select(np.arange(count), tokens and self.has_tokens)
        tensors = {"pooled": torch.from_numpy(pooled)}
        if packed is not None:
            tensors.update(tokens=torch.from_numpy(packed), lengths=torch.from_numpy(lengths))
        return FeatureStore([ShardFeatures.in_memory(tensors)], np.zeros(count), np.arange(count))
