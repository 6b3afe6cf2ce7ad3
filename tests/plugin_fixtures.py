"""Make real (tiny) installed distributions with entry points, on a temporary sys.path entry."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any


def use_site(site: Path, monkeypatch: Any) -> Path:
    """Put ``site`` (distributions made by :func:`make_distribution`) on sys.path with entry points on, and make
    the process-wide registry load again; call ``get_registry.cache_clear()`` after the test."""
    from mmfusion.registry import get_registry

    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("MMFUSION_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    get_registry.cache_clear()
    return site


def make_distribution(site: Path, dist: str, modules: dict[str, str], entry_points: dict[str, str],
                      version: str = "1.0") -> None:
    """Write modules plus a ``.dist-info`` with ``[mmfusion]`` entry points into ``site``."""
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[mmfusion]\n{lines}\n", encoding="utf-8")


GOOD_FUSION = '''
from typing import Literal
import torch
from mmfusion import Fusion, FusionConfig, hookimpl

class SumConfig(FusionConfig):
    type: Literal["concat"] = "concat"

class OtherConcat(Fusion):
    """Sums pooled vectors of equal width (only here to clash with the built-in 'concat')."""
    name = "concat"
    Config = SumConfig
    def __init__(self, config, input_dims):
        super().__init__(config, input_dims)
        self.output_dim = max(self.input_dims.values())
    def forward(self, outputs, present):
        return sum(outputs[m].pooled * present[m][:, None] for m in self.modalities)

@hookimpl
def mmfusion_fusions():
    return [OtherConcat]
'''

BROKEN_IMPORT = '''
raise ImportError("libfoo.so: cannot open shared object file")
'''

RAISING_HOOK = '''
from mmfusion import hookimpl

@hookimpl
def mmfusion_heads():
    raise RuntimeError("hook exploded")
'''

TYPO_HOOK = '''
from mmfusion import hookimpl

@hookimpl
def mmfusion_fusion():   # typo: the hook is mmfusion_fusions
    return []
'''

BAD_COMPONENT = '''
from typing import Literal
from mmfusion import Classifier, HeadConfig, hookimpl

class WrongConfig(HeadConfig):
    type: Literal["other"] = "other"

class Mislabelled(Classifier):
    name = "mislabelled"
    Config = WrongConfig

@hookimpl
def mmfusion_heads():
    return [Mislabelled]
'''

WRONG_DIM = '''
from typing import Literal
import torch
from mmfusion import Fusion, FusionConfig, hookimpl

class WrongDimConfig(FusionConfig):
    type: Literal["wrong_dim"] = "wrong_dim"

class WrongDimFusion(Fusion):
    """Declares 5 output features but returns 4."""
    name = "wrong_dim"
    Config = WrongDimConfig
    def __init__(self, config, input_dims):
        super().__init__(config, input_dims)
        self.proj = torch.nn.ModuleDict({m: torch.nn.Linear(d, 4) for m, d in self.input_dims.items()})
        self.output_dim = 5
    def forward(self, outputs, present):
        return sum(self.proj[m](outputs[m].pooled) * present[m][:, None] for m in self.modalities)

@hookimpl
def mmfusion_fusions():
    return [WrongDimFusion]
'''

#: a third-party author's loss, logger and callback (and a fusion whose training forward fails): the reference
#: extras plugin the conformance kit must pass, plus the bad variants it must catch
EXTRAS = '''
import json
from pathlib import Path
from typing import Literal

import torch
from torch.nn import functional

from mmfusion import (Callback, CallbackConfig, Fusion, FusionConfig, Logger, LoggerConfig, Loss, LossConfig,
                      hookimpl)


class Poly1Config(LossConfig):
    type: Literal["poly1"] = "poly1"
    epsilon: float = 1.0


class Poly1Loss(Loss):
    """Poly-1 (Leng et al. 2022): cross-entropy plus epsilon * (1 - p of the target)."""
    name = "poly1"
    Config = Poly1Config
    tasks = ("multiclass",)

    def forward(self, logits, targets):
        ce = functional.cross_entropy(logits, targets, weight=self.class_weights, reduction="none")
        target_p = functional.softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
        return (ce + self.config.epsilon * (1 - target_p)).mean()


class JsonlConfig(LoggerConfig):
    type: Literal["jsonl"] = "jsonl"


class JsonlLogger(Logger):
    """RUN/epochs.jsonl, one line per epoch; on resume rewritten with the epochs that count."""
    name = "jsonl"
    Config = JsonlConfig

    def __init__(self, config, run_dir):
        super().__init__(config, run_dir)
        self.path = self.run_dir / "epochs.jsonl"

    def log_config(self, spec):
        self.path.write_text("")

    def resume(self, spec, history):
        self.path.write_text("".join(json.dumps(dict(row)) + "\\n" for row in history))

    def log_metrics(self, epoch, metrics):
        with self.path.open("a") as out:
            out.write(json.dumps({**metrics, "epoch": epoch}) + "\\n")

    @classmethod
    def conformance_history(cls, config, run_dir):
        return [json.loads(line) for line in (Path(run_dir) / "epochs.jsonl").read_text().splitlines()]


class GradNormConfig(CallbackConfig):
    type: Literal["grad_norm"] = "grad_norm"


class GradNorm(Callback):
    """Each epoch's largest gradient norm (before clipping): the metrics.csv column grad_norm_max, and
    RUN/grad_norms.txt rewritten from the state every epoch."""
    name = "grad_norm"
    Config = GradNormConfig

    def __init__(self, config=None):
        super().__init__(config)
        self.largest, self.steps, self.norms = 0.0, 0, []

    def on_epoch_start(self, ctx):
        self.largest = 0.0

    def on_after_backward(self, ctx, batch):
        grads = [p.grad.norm() for p in ctx.model.parameters() if p.grad is not None]
        self.largest = max(self.largest, float(torch.stack(grads).norm()))
        self.steps += 1

    def on_epoch_end(self, ctx, row):
        row["grad_norm_max"] = self.largest
        self.norms.append(self.largest)
        if ctx.is_main:
            (ctx.run_dir / "grad_norms.txt").write_text("".join(f"{n}\\n" for n in self.norms))

    def state_dict(self):
        return {"norms": self.norms, "steps": self.steps}

    def load_state_dict(self, state):
        self.norms, self.steps = list(state["norms"]), state["steps"]


class BilinearConfig(FusionConfig):
    type: Literal["bilinear"] = "bilinear"


class Bilinear(Fusion):
    """Passes the forward check (eval mode), then fails in training: a plugin's own bug."""
    name = "bilinear"
    Config = BilinearConfig

    def __init__(self, config, input_dims):
        super().__init__(config, input_dims)
        self.proj = torch.nn.Linear(sum(self.input_dims.values()), 8)
        self.output_dim = 8

    def forward(self, outputs, present):
        if self.training:
            raise RuntimeError("bilinear: the outer product is not implemented yet")
        return self.proj(torch.cat([outputs[m].pooled * present[m][:, None] for m in self.modalities], dim=1))


@hookimpl
def mmfusion_losses():
    return [Poly1Loss]


@hookimpl
def mmfusion_loggers():
    return [JsonlLogger]


@hookimpl
def mmfusion_callbacks():
    return [GradNorm]


@hookimpl
def mmfusion_fusions():
    return [Bilinear]
'''

#: losses whose ``tasks`` break the contract, named at registration
BAD_TASKS = '''
from typing import Literal
from mmfusion import Loss, LossConfig, hookimpl

class TypoConfig(LossConfig):
    type: Literal["typo_loss"] = "typo_loss"

class TypoLoss(Loss):
    name = "typo_loss"
    Config = TypoConfig
    tasks = ("multiclas",)

class BareConfig(LossConfig):
    type: Literal["bare_loss"] = "bare_loss"

class BareLoss(Loss):
    name = "bare_loss"
    Config = BareConfig
    tasks = "multiclass"

@hookimpl
def mmfusion_losses():
    return [TypoLoss, BareLoss]
'''
