"""Runs ``mmfusion`` command lines in real child processes without paying the interpreter's start-up each time.

Started once (``python tests/cli/cli_forkserver.py``), it imports mmfusion and the libraries its commands
import (torch, timm, transformers, ...) but runs no computation, then, for each request read from stdin (one
JSON line: argv, cwd, env, fsize limit, timeout, optional signal), forks a child that applies the limits,
redirects stdout/stderr to files and calls the console script's entry point exactly as ``mmfusion ARGV``
would. The reply (one JSON line) carries the child's exit status, stdout and stderr. Forking before any torch
computation keeps the child's thread pools fresh.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import tempfile
import time


def _preload() -> None:
    import mmfusion.cli  # noqa: F401  (registers every command)
    from mmfusion.registry import get_registry

    get_registry()  # plugins loaded once, inherited by every child
    for name in ("torch", "torchvision", "timm", "transformers", "pandas", "PIL.Image", "safetensors.torch",
                 "sklearn.metrics", "matplotlib.pyplot", "onnxruntime", "pyarrow.parquet"):
        try:
            __import__(name)
        except Exception:  # an optional library missing: the child imports (or misses) it as a user would
            pass


def _child(request: dict, out_path: str, err_path: str) -> None:
    os.setsid()  # its own process group: a signal sent to the group reaches only this command
    os.chdir(request["cwd"])
    for key, value in request.get("env", {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if request.get("fsize") is not None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (request["fsize"], request["fsize"]))
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    for fd, path in ((1, out_path), (2, err_path)):
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(handle, fd)
        os.close(handle)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
    signal.signal(signal.SIGINT, signal.default_int_handler)
    code = 0
    try:
        from mmfusion.cli import cli

        sys.argv = ["mmfusion", *request["argv"]]
        cli.main(args=request["argv"], prog_name="mmfusion")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int) and exc.code is not None:
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - what the interpreter itself would do: a traceback and status 1
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
    os._exit(code)


def _run(request: dict) -> dict:
    folder = tempfile.mkdtemp(prefix="mmfusion-cli-")
    out_path, err_path = os.path.join(folder, "out"), os.path.join(folder, "err")
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            _child(request, out_path, err_path)
        finally:
            os._exit(70)
    deadline = started + request.get("timeout", 300)
    signalled_at = request.get("signal_after")
    signalled = False
    status = None
    while status is None:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = raw
            break
        now = time.monotonic()
        if signalled_at is not None and not signalled and (
                now - started >= signalled_at or _exists(request, "signal_when_exists")):
            os.killpg(pid, signal.SIGINT)
            signalled = True
        if now > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = -1
            break
        time.sleep(0.02)
    code = os.waitstatus_to_exitcode(status) if status != -1 else "timeout"
    with open(out_path, encoding="utf-8", errors="replace") as handle:
        stdout = handle.read()
    with open(err_path, encoding="utf-8", errors="replace") as handle:
        stderr = handle.read()
    for path in (out_path, err_path):
        os.unlink(path)
    os.rmdir(folder)
    return {"code": code, "stdout": stdout, "stderr": stderr, "seconds": round(time.monotonic() - started, 3)}


def _exists(request: dict, key: str) -> bool:
    path = request.get(key)
    return bool(path) and os.path.exists(path)


def main() -> None:
    _preload()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        print(json.dumps(_run(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
