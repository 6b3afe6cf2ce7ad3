"""Feature store: gather speed from disk (memory-mapped shards) against RAM, and memory of a store over its budget.

Shards written by the real cache code (``write_shard``) with random fp16 features shaped like the examples':
EfficientNet-Lite0 at 128 px (1280-d, 16 grid tokens), MiniLM (384-d, 6-30 tokens a text), and pooled only.
Gathers random batches of 32 and 256 rows (the best of 3 interleaved rounds) with:

* ``before``: the store as it was, every row concatenated in one tensor in RAM, indexed by torch (the baseline);
* ``in_memory``: the new store within its budget (one shard in RAM);
* ``mapped``: the new store over its budget, reading the rows from the shard files (page cache warm);
* ``safe_open``: the same rows through safetensors' ``get_slice`` (a list of rows for pooled, one slice a row for
  tokens): the alternative to numpy memory maps.

Then, each in a child process, one epoch of batches of 256 over the image store, in RAM and mapped under a
64 MB budget: peak RSS (VmHWM), peak anonymous memory (RssAnon, sampled), which is what a mapped store saves,
and the file pages it had mapped at the end (page cache, which the kernel reclaims under pressure).

    python benchmarks/feature_store.py [--rows 8192] [--batches 200] [--work bench-runs/feature-store]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

KINDS = {"image_tokens": (1280, (16, 16)), "text_tokens": (384, (6, 30)), "pooled_only": (1280, None)}


def write(folder: Path, rows: int, width: int, tokens: tuple[int, int] | None, seed: int = 0) -> None:
    """Random fp16 shards of 2048 rows in ``folder``, as the cache writes them."""
    from mmfusion.data.feature_shards import write_shard

    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    for start in range(0, rows, 2048):
        count = min(2048, rows - start)
        tensors = {"pooled": torch.randn(count, width, generator=generator).half()}
        if tokens is not None:
            lengths = torch.randint(tokens[0], tokens[1] + 1, (count,), generator=generator)
            tensors["tokens"] = torch.randn(int(lengths.sum()), width, generator=generator).half()
            tensors["lengths"] = lengths
        write_shard(folder, [f"{folder.name}-{start + i}" for i in range(count)], tensors)


def store(folder: Path, width: int, memory: int):  # type: ignore[no-untyped-def]
    """The store over every row of ``folder``, as ``build_feature_store`` ends: in RAM within ``memory``."""
    from mmfusion.data.feature_shards import open_shard, read_listings
    from mmfusion.data.feature_store import FeatureStore

    places = []
    for shard in read_listings(folder):
        features = open_shard(shard, width)
        places += [(features, row) for row in range(len(shard.fingerprints))]
    mapped = FeatureStore.of(places)
    return mapped.in_memory() if mapped.nbytes() <= memory else mapped


class Before:
    """The store before this change: pooled ``[U, D]`` and tokens ``[sum T, D]`` + offsets in RAM."""

    def __init__(self, in_memory) -> None:  # type: ignore[no-untyped-def]
        held = in_memory.shards[0].tensors
        self.pooled, self.tokens = held["pooled"], held.get("tokens")
        self.offsets = torch.from_numpy(in_memory.shards[0].offsets) if self.tokens is not None else None

    def gather(self, rows: torch.Tensor) -> tuple:
        pooled = self.pooled[rows].float()
        if self.tokens is None:
            return (pooled,)
        starts, lengths = self.offsets[rows], self.offsets[rows + 1] - self.offsets[rows]
        width = max(int(lengths.max()), 1)
        steps = torch.arange(width)
        mask = steps.unsqueeze(0) < lengths.unsqueeze(1)
        index = (starts.unsqueeze(1) + steps.unsqueeze(0)).clamp(max=max(self.tokens.shape[0] - 1, 0))
        return pooled, self.tokens[index].float() * mask.unsqueeze(-1), mask


class SafeOpen:
    """Rows read through safetensors' slices; store rows are numbered shard after shard, 2048 each."""

    def __init__(self, folder: Path) -> None:
        from safetensors import safe_open

        self.files = [safe_open(str(p), framework="pt") for p in sorted(folder.glob("shard-*.safetensors"))]
        self.offsets = [np.concatenate([[0], np.cumsum(f.get_tensor("lengths").numpy())]) if "lengths" in f.keys()
                        else None for f in self.files]

    def gather(self, rows: torch.Tensor) -> tuple:
        pooled, tokens = [], []
        for row in rows.tolist():
            number, local = divmod(row, 2048)
            pooled.append(self.files[number].get_slice("pooled")[[local]])
            if self.offsets[number] is not None:
                start, end = self.offsets[number][local], self.offsets[number][local + 1]
                tokens.append(self.files[number].get_slice("tokens")[int(start):int(end)])
        return torch.cat(pooled).float(), *([torch.nn.utils.rnn.pad_sequence(tokens, batch_first=True).float()]
                                            if tokens else [])


def speeds(contenders: dict, rows: int, size: int, batches: int, rounds: int = 3) -> dict[str, object]:
    """Batches/s and rows/s of each contender's best round on the same random batches, interleaved round by round
    (a busy neighbour on a shared machine then slows each alike, and the best round is the least disturbed)."""
    generator = torch.Generator().manual_seed(1)
    plan = [torch.randint(0, rows, (size,), generator=generator) for _ in range(batches)]
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for gather in contenders.values():
        for batch in plan:  # warm: the mapped pages in the page cache, as after the first epoch
            gather(batch)
    for _ in range(rounds):
        for name, gather in contenders.items():
            started = time.perf_counter()
            for batch in plan:
                gather(batch)
            seconds[name].append(time.perf_counter() - started)
    out: dict[str, object] = {}
    for name, values in seconds.items():
        best = min(values)
        out[name] = {"batches_per_s": round(batches / best, 1), "rows_per_s": round(batches * size / best)}
    return out


def status() -> dict[str, int]:
    """This process's memory from /proc/self/status in MB: VmHWM (peak RSS since exec), RssAnon, RssFile."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) // 1024 for key in ("VmHWM", "RssAnon", "RssFile")}


def child(folder: Path, width: int, memory: int) -> None:
    """One epoch of random batches of 256 rows with tokens; prints peak RSS and peak anonymous memory (MB).

    Peak RSS is VmHWM, not ``ru_maxrss``: Linux carries the parent's ``ru_maxrss`` into a forked child.
    """
    start = status()
    built = store(folder, width, memory)
    peak = status()["RssAnon"]
    order = torch.randperm(len(built), generator=torch.Generator().manual_seed(2))
    started = time.perf_counter()
    for number, first in enumerate(range(0, len(order), 256)):
        built.gather(order[first:first + 256])
        if number % 4 == 0:
            peak = max(peak, status()["RssAnon"])
    end = status()
    print(json.dumps({"mapped": built.mapped, "store_mb": built.nbytes() // 2**20,
                      "epoch_s": round(time.perf_counter() - started, 2), "rss_at_start_mb": start["VmHWM"],
                      "peak_rss_mb": end["VmHWM"], "peak_anonymous_mb_over_start": peak - start["RssAnon"],
                      "file_pages_at_end_mb": end["RssFile"] - start["RssFile"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=8192)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--work", type=Path, default=Path("bench-runs/feature-store"))
    parser.add_argument("--child", nargs=3, metavar=("FOLDER", "WIDTH", "MEMORY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), int(args.child[1]), int(args.child[2]))
        return
    shutil.rmtree(args.work, ignore_errors=True)
    results: dict[str, object] = {"rows": args.rows, "torch_threads": torch.get_num_threads()}
    for kind, (width, tokens) in KINDS.items():
        folder = args.work / kind
        write(folder, args.rows, width, tokens)
        in_memory, mapped = store(folder, width, 1 << 40), store(folder, width, 0)
        contenders = {"before": Before(in_memory).gather, "in_memory": in_memory.gather, "mapped": mapped.gather,
                      "safe_open": SafeOpen(folder).gather}
        row: dict[str, object] = {"store_mb": in_memory.nbytes() // 2**20}
        check = torch.randint(0, args.rows, (64,))
        assert all(all(torch.equal(a, b) for a, b in zip(gather(check), Before(in_memory).gather(check)))
                   for gather in (in_memory.gather, mapped.gather)), "the stores disagree"
        for size in (32, 256):
            measured = speeds(contenders, args.rows, size, args.batches)
            measured["mapped_vs_before"] = round(measured["mapped"]["rows_per_s"]  # type: ignore[index]
                                                 / measured["before"]["rows_per_s"], 2)  # type: ignore[index]
            row[f"batch_{size}"] = measured
        results[kind] = row
        print(json.dumps({kind: row}), flush=True)
    width = KINDS["image_tokens"][0]
    for name, memory in (("in_memory", 1 << 40), ("mapped_budget_64MB", 64 * 2**20)):
        out = subprocess.run([sys.executable, __file__, "--child", str(args.work / "image_tokens"), str(width),
                              str(memory)], capture_output=True, text=True, check=True).stdout
        results[f"epoch_{name}"] = json.loads(out.strip().splitlines()[-1])
        print(json.dumps({f"epoch_{name}": results[f"epoch_{name}"]}), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
