"""Weights download for real, through the libraries' own code and caches, from a Hub on 127.0.0.1.

A threaded HTTP server mimics the Hugging Face Hub: its file URLs (``/{repo}/resolve/{revision}/{file}``, HEAD and
GET, with the ETag, X-Repo-Commit and X-Error-Code headers huggingface_hub reads) and the model-info and tree
listings transformers asks for (``/api/models/{repo}[/revision/{rev}|/tree/{rev}/{folder}]``); it also serves a
torchvision file by plain URL.
Each build runs in a fresh interpreter whose environment points the libraries at it, as a user's would point at
a mirror: ``HF_ENDPOINT`` for huggingface_hub (read once, at import), and the URL of torchvision's weights entry,
which torchvision offers no setting for. The interpreter refuses any connection beyond the loopback, so nothing
here can reach the internet.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import torch

pytestmark = pytest.mark.slow  # each test starts fresh interpreters that download from a local Hub

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TEXT = "what color is the circle?"


@dataclass
class LocalHub:
    """What the server holds and what it was asked for."""

    repos: dict[str, dict[str, Path]] = field(default_factory=dict)
    plain: dict[str, Path] = field(default_factory=dict)  # URL path → file, for torchvision
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def add_folder(self, repo_id: str, folder: Path) -> None:
        self.repos[repo_id] = {str(p.relative_to(folder)): p for p in folder.rglob("*") if p.is_file()}


class _Handler(BaseHTTPRequestHandler):
    hub: LocalHub

    def do_HEAD(self) -> None:  # noqa: N802 (the http.server naming)
        self._answer(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(body=True)

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _answer(self, *, body: bool) -> None:
        path = self.path.split("?")[0]
        self.hub.requests.append((self.command, path))
        if path in self.hub.plain:
            return self._file(self.hub.plain[path], body, {})
        if path.startswith("/api/models/"):
            return self._api(path[len("/api/models/"):])
        if "/resolve/" not in path:
            return self._error(404, "", {})
        repo_id, _, rest = path.lstrip("/").partition("/resolve/")
        filename = rest.partition("/")[2]
        if repo_id not in self.hub.repos:  # the Hub answers 401 for ids it will not show
            return self._error(401, "RepoNotFound", {})
        if filename not in self.hub.repos[repo_id]:
            return self._error(404, "EntryNotFound", {"X-Repo-Commit": COMMIT})
        return self._file(self.hub.repos[repo_id][filename], body, {"X-Repo-Commit": COMMIT})

    def _api(self, rest: str) -> None:
        """``{repo}``, ``{repo}/revision/{rev}`` (model info with its files) and ``{repo}/tree/{rev}/{folder}``."""
        parts = rest.split("/")
        repo_id, more = "/".join(parts[:2]), parts[2:]
        files = self.hub.repos.get(repo_id)
        if files is None:
            return self._error(401, "RepoNotFound", {})
        if not more or more[0] == "revision":
            info = {"id": repo_id, "modelId": repo_id, "sha": COMMIT, "private": False, "tags": [],
                    "siblings": [{"rfilename": name} for name in sorted(files)]}
            return self._json(info)
        folder = "/".join(more[2:])
        listed = [{"type": "file", "path": n, "size": p.stat().st_size} for n, p in sorted(files.items())
                  if not folder or n.startswith(folder + "/")]
        return self._json(listed) if listed or not folder else self._error(404, "EntryNotFound", {})

    def _json(self, value: Any) -> None:
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _file(self, file: Path, body: bool, headers: dict[str, str]) -> None:
        data = file.read_bytes()
        self.send_response(200)
        for key, value in {**headers, "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                           "Content-Length": str(len(data)), "Content-Type": "application/octet-stream"}.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _error(self, status: int, code: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in {**headers, **({"X-Error-Code": code} if code else {}), "Content-Length": "0"}.items():
            self.send_header(key, value)
        self.end_headers()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    """A tiny BERT, a tiny CLIP, a BERT without weights, timm's test_efficientnet and a resnet18, served."""
    import timm
    import torchvision

    from mmfusion.testing.tiny_models import write_tiny_bert, write_tiny_vision_model

    root = tmp_path_factory.mktemp("hub")
    local = LocalHub()
    local.add_folder("tiny-org/tiny-bert", write_tiny_bert(root / "tiny-bert"))
    local.add_folder("tiny-org/tiny-clip", write_tiny_vision_model(root / "tiny-clip", "clip"))
    no_weights = shutil.copytree(root / "tiny-bert", root / "no-weights")
    (no_weights / "model.safetensors").unlink()
    local.add_folder("tiny-org/no-weights", no_weights)
    from safetensors.torch import save_file

    torch.manual_seed(1)
    timm_folder = root / "timm"
    timm_folder.mkdir()
    save_file({k: v.contiguous() for k, v in timm.create_model("test_efficientnet").state_dict().items()},
              str(timm_folder / "model.safetensors"))
    local.add_folder("timm/test_efficientnet.r160_in1k", timm_folder)
    torch.manual_seed(2)
    resnet = root / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), resnet)
    # torch hub checks the file's SHA-256 against the prefix in its name, as for torchvision's own files
    named = resnet.with_name(f"resnet18-{hashlib.sha256(resnet.read_bytes()).hexdigest()[:8]}.pth")
    resnet.rename(named)
    local.plain[f"/torchvision/{named.name}"] = named

    handler = type("Handler", (_Handler,), {"hub": local})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    local.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield local
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Runs in a fresh interpreter: refuses non-loopback connections, builds each encoder, prints one JSON line.
PROBE = r'''
import json, random, socket, sys, warnings

_connect = socket.socket.connect
def _loopback_only(self, address):
    if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1", "localhost"):
        raise ConnectionRefusedError(f"test refuses to leave the loopback: {address}")
    return _connect(self, address)
socket.socket.connect = _loopback_only

if "--no-backoff" in sys.argv:  # huggingface_hub waits 1+2+4+8+8 s between its retries of a refused connection
    import types
    import huggingface_hub.utils._http as hub_http
    hub_http.time = types.SimpleNamespace(sleep=lambda seconds: None)  # the retries still happen, without waits

import torch
from mmfusion.errors import MMFusionError
from mmfusion.registry import get_registry

registry, results = get_registry(), []
for case in json.loads(sys.argv[1]):
    url = case.pop("torchvision_url", None)
    if url:  # torchvision has no setting for where its weights come from: its entry's URL is changed
        import torchvision
        torchvision.models.ResNet18_Weights.IMAGENET1K_V1.value.url = url
    try:
        cls = registry.get("encoder", case["type"])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            encoder = cls(cls.Config(**case)).eval()
        value = encoder.example_input(random.Random(0)) if encoder.modality == "image" else "''' + TEXT + r'''"
        with torch.no_grad():
            pooled = encoder(encoder.collate(encoder.preprocess_batch([value]))).pooled
        name, first = next(iter(encoder.weights_target().named_parameters()))
        results.append({"ok": True, "pooled": pooled[0, :4].tolist(), "weights_path": str(encoder.weights_path),
                        "first": [name, float(first.double().sum())],
                        "warnings": [str(w.message) for w in caught if "mmfusion" in w.filename]})
    except MMFusionError as exc:
        results.append({"ok": False, "error": type(exc).__name__, "message": str(exc)})
print("RESULTS " + json.dumps(results))
'''


def _probe(cases: list[dict[str, Any]], home: Path, endpoint: str, *, no_backoff: bool = False,
           **env: str) -> list[dict[str, Any]]:
    """Build each case's encoder in a fresh interpreter with its caches under ``home``; per case, the result."""
    clean = {k: v for k, v in os.environ.items() if k not in {
        "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "MMFUSION_OFFLINE", "HF_HUB_CACHE", "HF_ENDPOINT", "HF_TOKEN",
        "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"}}
    clean.update(HF_HOME=str(home / "hf"), TORCH_HOME=str(home / "torch"), HF_ENDPOINT=endpoint,
                 HF_HUB_DISABLE_TELEMETRY="1", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
                 MMFUSION_DISABLE_PLUGIN_AUTOLOAD="1", **env)
    command = [sys.executable, "-c", PROBE, json.dumps(cases), *(["--no-backoff"] if no_backoff else [])]
    done = subprocess.run(command, capture_output=True, text=True, env=clean, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULTS ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULTS "):])


def _cases(hub: LocalHub, server: str | None = None) -> list[dict[str, Any]]:
    """One encoder of each kind that downloads: Hub ids for hf_text and hf_image, pretrained timm and torchvision."""
    return [
        {"type": "hf_text", "path": "tiny-org/tiny-bert"},
        {"type": "hf_text", "path": "tiny-org/tiny-clip", "projection": True},
        {"type": "hf_image", "path": "tiny-org/tiny-clip", "projection": True},
        {"type": "timm", "model_name": "test_efficientnet", "pretrained": True, "image_size": 32},
        {"type": "torchvision_resnet", "arch": "resnet18", "pretrained": True, "image_size": 32,
         "torchvision_url": (server or hub.url) + next(iter(hub.plain))},
    ]


@pytest.fixture(scope="module")
def downloaded(hub: LocalHub, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """One online run that downloads every case into fresh caches."""
    home = tmp_path_factory.mktemp("home")
    hub.requests.clear()
    return home, _probe(_cases(hub), home, hub.url)


def _source_sums(hub: LocalHub) -> list[float]:
    """The first weights_target parameter of each case, summed, read from the served files."""
    from safetensors.torch import load_file

    def first(file: Path, name: str) -> float:
        state = load_file(str(file)) if file.suffix == ".safetensors" else torch.load(file, weights_only=True)
        return float(state[name].double().sum())

    bert, clip = hub.repos["tiny-org/tiny-bert"], hub.repos["tiny-org/tiny-clip"]
    return [first(bert["model.safetensors"], "embeddings.word_embeddings.weight"),
            first(clip["model.safetensors"], "text_model.embeddings.token_embedding.weight"),
            first(clip["model.safetensors"], "vision_model.embeddings.class_embedding"),
            first(hub.repos["timm/test_efficientnet.r160_in1k"]["model.safetensors"], "conv_stem.weight"),
            first(next(iter(hub.plain.values())), "conv1.weight")]


def test_online_hub_ids_and_pretrained_weights_download_into_the_libraries_caches(
        downloaded: tuple[Path, list[dict[str, Any]]], hub: LocalHub) -> None:
    home, results = downloaded
    assert all(r["ok"] for r in results), results
    assert [r["first"][1] for r in results] == pytest.approx(_source_sums(hub), rel=1e-6)  # the served weights
    snapshots = home / "hf" / "hub"
    assert Path(results[0]["weights_path"]) == snapshots / "models--tiny-org--tiny-bert" / "snapshots" / COMMIT
    assert (snapshots / "models--tiny-org--tiny-bert" / "snapshots" / COMMIT / "model.safetensors").is_file()
    assert (snapshots / "models--tiny-org--tiny-clip" / "snapshots" / COMMIT / "preprocessor_config.json").is_file()
    assert Path(results[3]["weights_path"]).is_relative_to(snapshots / "models--timm--test_efficientnet.r160_in1k")
    resnet = home / "torch" / "hub" / "checkpoints" / Path(next(iter(hub.plain))).name
    assert Path(results[4]["weights_path"]) == resnet and resnet.is_file()


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "MMFUSION_OFFLINE"])
def test_offline_the_cached_copies_are_used_without_the_network(
        variable: str, downloaded: tuple[Path, list[dict[str, Any]]], hub: LocalHub) -> None:
    home, online = downloaded
    hub.requests.clear()
    offline = _probe(_cases(hub), home, hub.url, **{variable: "1"})
    assert hub.requests == []  # not one request, not even to check for a newer revision
    assert all(r["ok"] for r in offline), offline
    for before, after in zip(online, offline):
        assert after["pooled"] == pytest.approx(before["pooled"], abs=1e-6)
        assert after["weights_path"] == before["weights_path"]


def test_with_the_network_down_the_cached_copies_are_used(downloaded: tuple[Path, list[dict[str, Any]]],
                                                         hub: LocalHub) -> None:
    """Without offline mode, a Hub that cannot be reached is noticed once (not by retrying each optional file
    for 20 seconds) and the cached copies are used, with a warning saying so."""
    home, online = downloaded
    nowhere = f"http://127.0.0.1:{_closed_port()}"
    results = _probe(_cases(hub, nowhere), home, nowhere)
    assert all(r["ok"] for r in results), results
    for before, after in zip(online, results):
        assert after["pooled"] == pytest.approx(before["pooled"], abs=1e-6)
    for result, repo in zip(results[:3], ["tiny-org/tiny-bert", "tiny-org/tiny-clip", "tiny-org/tiny-clip"]):
        assert any("cannot be reached" in w and f"using the cached copy of '{repo}'" in w for w in result["warnings"])


def test_offline_without_cached_copies_says_how_to_supply_the_weights(hub: LocalHub, tmp_path: Path) -> None:
    hub.requests.clear()
    results = _probe(_cases(hub), tmp_path, hub.url, MMFUSION_OFFLINE="1")
    assert hub.requests == []
    assert [r["error"] for r in results] == ["WeightsError"] * 5, results
    for result, named in zip(results, ["'tiny-org/tiny-bert'", "'tiny-org/tiny-clip'", "'tiny-org/tiny-clip'",
                                       "'test_efficientnet'", "resnet18"]):
        message = result["message"]
        assert named in message and "offline mode is on (MMFUSION_OFFLINE=1)" in message, message
    assert "hf download tiny-org/tiny-bert" in results[0]["message"] and "local model folder" in results[0]["message"]
    assert "weights:" in results[3]["message"] and "weights:" in results[4]["message"]


def test_a_wrong_id_or_a_missing_file_is_one_error_naming_it(hub: LocalHub, tmp_path: Path) -> None:
    missing = f"{hub.url}/torchvision/resnet18-00000000.pth"
    results = _probe([{"type": "hf_text", "path": "tiny-org/no-such-model"},
                      {"type": "hf_image", "path": "tiny-org/no-such-model"},
                      {"type": "hf_text", "path": "tiny-org/no-weights"},
                      {"type": "torchvision_resnet", "arch": "resnet18", "pretrained": True,
                       "torchvision_url": missing}], tmp_path, hub.url)
    assert [r["error"] for r in results] == ["WeightsError"] * 4, results
    for result in results[:2]:
        assert "'tiny-org/no-such-model' is neither a local folder" in result["message"]
        assert "nor a model on the Hugging Face Hub" in result["message"] and "Check the id" in result["message"]
    assert "tiny-org/no-weights" in results[2]["message"] and "model.safetensors" in results[2]["message"]
    assert missing in results[3]["message"] and "the server answered 404" in results[3]["message"]


def test_no_network_is_one_error_naming_the_id_and_the_ways_out(hub: LocalHub, tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{_closed_port()}"
    results = _probe(_cases(hub, nowhere), tmp_path, nowhere, no_backoff=True)
    assert [r["error"] for r in results] == ["WeightsError"] * 5, results
    for result, named in zip(results[:4], ["'tiny-org/tiny-bert'", "'tiny-org/tiny-clip'", "'tiny-org/tiny-clip'",
                                           "'timm/test_efficientnet.r160_in1k'"]):
        message = result["message"]
        assert f"cannot download {named}" in message and "cannot be reached" in message, message
        assert "MMFUSION_OFFLINE=1" in message and nowhere in message
    assert "local model folder" in results[0]["message"] and "weights:" in results[3]["message"]
    assert "resnet18" in results[4]["message"] and "MMFUSION_OFFLINE=1" in results[4]["message"]


def test_the_offline_flag_of_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``mmfusion --offline`` sets MMFUSION_OFFLINE for the command, which then names it."""
    import huggingface_hub.constants as hf_constants
    from click.testing import CliRunner

    from mmfusion.cli import cli

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("MMFUSION_OFFLINE", "0")  # restored after the test, whatever the command sets
    spec = tmp_path / "spec.yaml"
    spec.write_text("model:\n  encoders:\n    text: {type: hf_text, path: tiny-org/not-cached}\n"
                    "  fusion: {type: concat}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--offline", "build", str(spec), "--no-forward"])
    assert result.exit_code == 2, result.output
    assert "'tiny-org/not-cached'" in result.output and "offline mode is on (MMFUSION_OFFLINE=1)" in result.output
    assert os.environ["MMFUSION_OFFLINE"] == "1"
