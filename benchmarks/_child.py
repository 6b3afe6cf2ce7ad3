"""Run a Python file or a callable in a child process and report its peak resident memory (for benchmarks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

MARK = "BENCH_RESULT="


def run_child(args: list[str], env: dict[str, str] | None = None) -> tuple[str, int]:
    """Run ``python args...``; returns (stdout, peak RSS in MB of that child alone)."""
    code = ("import resource, runpy, sys; sys.argv = sys.argv[1:]; "
            "exit_code = 0\n"
            "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
            "except SystemExit as exc:\n    exit_code = exc.code or 0\n"
            f"print('{MARK}' + str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss), flush=True)\n"
            "sys.exit(exit_code)")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise SystemExit(f"child {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    peak_kb = int(next(line for line in proc.stdout.splitlines() if line.startswith(MARK))[len(MARK):])
    return proc.stdout, peak_kb // 1024


def parse_value(stdout: str, key: str) -> float:
    for line in stdout.splitlines():
        if line.startswith(f"{key}="):
            return float(line.split("=", 1)[1])
    raise SystemExit(f"no {key}= in output:\n{stdout[-2000:]}")


def emit(**values: object) -> None:
    for key, value in values.items():
        print(f"{key}={value}", flush=True)


def shared_bench() -> Path:
    """The folder with the reference implementation (../shared/bench from the repository)."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here.parent / "shared" / "bench", here / "shared" / "bench"):
        if (candidate / "reference_loop.py").exists():
            return candidate
    raise SystemExit("cannot find shared/bench/reference_loop.py next to the repository")


def dump(data: object) -> str:
    return json.dumps(data, indent=2)


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """``KEY=YAML`` command-line overrides (``model.encoders.text.pad_to_multiple_of=null``) as a mapping."""
    import yaml

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set {pair}: expected KEY=VALUE")
        out[key] = yaml.safe_load(value)
    return out
