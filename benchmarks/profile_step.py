"""Where one training step of the article model spends its time: GEMM and convolution against everything else.

Trains examples/article_resnet50_bert.yaml (ResNet50 + a BERT-base-sized encoder, random init, nothing frozen,
batch 8) on the shared catalog through mmfusion's own trainer, with torch.profiler recording ``--active`` steps
after ``--warmup`` steps, for each precision asked for. Every op's *self* CPU time is put in one category
(GEMM/convolution, normalisation, softmax/attention, optimizer, dtype conversion, data movement, element-wise
and other ops); the step's wall time not spent in any op is "Python and framework". Prints a markdown table of the
shares per precision, the step's seconds, and the top ops.

    python benchmarks/profile_step.py [--precisions fp32 bf16] [--warmup 2] [--active 3] [--top 12] [--set KEY=YAML]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import parse_overrides, run_child, shared_bench  # noqa: E402

from mmfusion.sweep.variants import apply_overrides  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

GEMM = {"mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "addmv", "mv", "dot", "_addmm_activation"}
MOVEMENT = {"copy_", "cat", "stack", "index", "index_select", "gather", "scatter", "clone", "contiguous", "view",
            "reshape", "permute", "transpose", "expand", "slice", "select", "narrow", "pad", "constant_pad_nd",
            "embedding", "embedding_dense_backward", "empty", "empty_like", "zeros", "zeros_like", "ones", "fill_",
            "zero_", "as_strided", "t", "unsqueeze", "squeeze", "split", "chunk", "unbind", "max_pool2d_with_indices",
            "max_pool2d_with_indices_backward", "new_zeros", "new_empty", "resize_", "index_put_", "_unsafe_view",
            "masked_fill_", "flatten", "repeat", "stride", "_reshape_alias", "detach", "alias", "lift_fresh"}
#: the categories of the table, in its order
LABELS = ("GEMM / convolution", "normalisation", "softmax / attention", "optimizer", "dtype conversion",
          "data movement", "element-wise, reductions, other ops", "Python and framework (outside ops)")


def category(name: str) -> str:
    """The table's category of one op (an aten name, forward or backward)."""
    op = name.removeprefix("aten::")
    if "adam" in op or op.startswith("_foreach") or op.startswith("_fused"):
        return "optimizer"
    if "softmax" in op or "scaled_dot_product" in op or "attention" in op:
        return "softmax / attention"
    if op in GEMM or "conv" in op or op.startswith("mkldnn_") or op.endswith("mm_backward"):
        return "GEMM / convolution"
    if "norm" in op:
        return "normalisation"
    if op in {"to", "_to_copy", "_autocast_to_reduced_precision", "_autocast_to_full_precision", "type_as"}:
        return "dtype conversion"
    if op in MOVEMENT:
        return "data movement"
    return "element-wise, reductions, other ops"


def child(catalog: Path, out: Path, precision: str, warmup: int, active: int, top: int, overrides: str) -> None:
    """In the child: train (warmup + active + 1) steps and profile the active ones."""
    import torch
    from torch.profiler import ProfilerActivity, profile, schedule

    import mmfusion

    steps = warmup + active + 1
    spec = mmfusion.load_spec(ROOT / "examples" / "article_resnet50_bert.yaml").model_dump(mode="json")
    source = {"type": "csv", "train": str(catalog / "data.csv"), "image_root": str(catalog / "images")}
    spec["data"] = {"source": source,
                    "columns": {"image": "image_path", "text": "description"}, "label": "category",
                    "split": {"validation": 0.0}, "limit": {"train": 8 * steps}}
    spec["train"] = {"epochs": 1, "batch_size": 8, "lr": 2e-5, "encoder_lr": 2e-5, "num_workers": 0,
                     "precision": precision}
    spec = apply_overrides(spec, json.loads(overrides), "--set")

    class Profiled(mmfusion.Callback):
        stage = "after"

        def __init__(self) -> None:
            super().__init__()
            self.prof = profile(activities=[ProfilerActivity.CPU],
                                schedule=schedule(wait=0, warmup=warmup, active=active, repeat=1))
            self.marks: list[float] = []

        def on_epoch_start(self, ctx):  # type: ignore[no-untyped-def]
            self.prof.__enter__()
            self.marks.append(time.perf_counter())

        def on_batch_end(self, ctx, batch, loss):  # type: ignore[no-untyped-def]
            self.prof.step()
            self.marks.append(time.perf_counter())

        def on_epoch_end(self, ctx, row):  # type: ignore[no-untyped-def]
            self.prof.__exit__(None, None, None)

    profiled = Profiled()
    result = mmfusion.fit(mmfusion.load_spec(spec), out=out, callbacks=[profiled], device="cpu")
    marks = profiled.marks
    step_seconds = (marks[warmup + active] - marks[warmup]) / active
    shares: dict[str, float] = defaultdict(float)
    ops = []
    for event in profiled.prof.key_averages():
        if event.self_cpu_time_total <= 0:
            continue
        seconds = event.self_cpu_time_total / 1e6 / active
        shares[category(event.key)] += seconds
        ops.append((seconds, event.key, event.count // active))
    in_ops = sum(shares.values())
    shares["Python and framework (outside ops)"] = max(0.0, step_seconds - in_ops)
    ops.sort(reverse=True)
    print("PROFILE=" + json.dumps({
        "precision": result.summary["precision"], "threads": torch.get_num_threads(), "step_seconds": step_seconds,
        "samples_per_s": 8 / step_seconds, "shares": {k: v / step_seconds for k, v in shares.items()},
        "seconds": dict(shares), "top": [{"op": name, "ms": round(s * 1e3, 1), "calls": calls}
                                         for s, name, calls in ops[:top]]}), flush=True)


def table(results: list[dict]) -> str:
    labels = LABELS
    head = "| share of the step | " + " | ".join(r["precision"] for r in results) + " |"
    lines = [head, "|---|" + "---:|" * len(results)]
    for label in labels:
        lines.append(f"| {label} | " + " | ".join(f"{100 * r['shares'].get(label, 0):.1f} %" for r in results) + " |")
    lines.append("| step (s) | " + " | ".join(f"{r['step_seconds']:.3f}" for r in results) + " |")
    lines.append("| samples/s | " + " | ".join(f"{r['samples_per_s']:.2f}" for r in results) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--active", type=int, default=3)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--n", type=int, default=200, help="catalog size")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=YAML",
                        help="override a spec key, e.g. model.encoders.text.pad_to_multiple_of=null")
    parser.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        catalog, out, precision, warmup, active, top, overrides = args.child
        child(Path(catalog), Path(out), precision, int(warmup), int(active), int(top), overrides)
        return
    overrides = json.dumps(parse_overrides(args.set))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "catalog"
        run_child([str(shared_bench() / "make_catalog.py"), str(catalog), "--n", str(args.n)])
        for precision in args.precisions:
            out, _ = run_child([__file__, "--child", str(catalog), str(Path(tmp) / precision), precision,
                                str(args.warmup), str(args.active), str(args.top), overrides],
                               {"MMFUSION_CACHE_DIR": str(Path(tmp) / "cache")})
            line = next(x for x in out.splitlines() if x.startswith("PROFILE="))
            results.append(json.loads(line.removeprefix("PROFILE=")))
    print(table(results))
    for r in results:
        print(f"\n{r['precision']}: top ops by self time per step")
        for op in r["top"]:
            print(f"  {op['ms']:8.1f} ms  {op['calls']:4d}×  {op['op']}")
    print("\n" + json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
