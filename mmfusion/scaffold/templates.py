"""File templates of a new plugin (``$name``: component name, ``$package``: import package, ``$dist``: distribution)."""

from __future__ import annotations

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "$title for mmfusion"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["mmfusion>=$mmfusion_version"]

[project.optional-dependencies]
test = ["pytest>=8"]

# mmfusion finds the plugin through this entry point: the module that implements the hooks.
[project.entry-points.mmfusion]
$name = "$package"

[tool.setuptools]
packages = ["$package"]
'''

README = '''\
# $dist

$title for [mmfusion](https://pypi.org/project/mmfusion/).

```bash
pip install -e ".[test]"
pytest                   # the mmfusion conformance kit
mmfusion plugins         # lists $dist with $kind '$name'
```

Use it in a spec (`mmfusion build spec.yaml` builds it and runs it once):

```yaml
$usage
```
'''

INIT = '''\
"""$dist: $title."""

from mmfusion import hookimpl

from .$module import $config_class, $class_name

__all__ = ["$config_class", "$class_name"]


@hookimpl
def $hook():
    return [$class_name]
'''

TEST = '''\
"""The mmfusion conformance kit: every check of the $kind contract, one test each; and the entry point."""

import importlib.metadata

import pytest
from mmfusion.registry import load_registry
from mmfusion.testing import parametrize_with_checks

from $package import $class_name


@parametrize_with_checks([$class_name])
def test_conformance(component, check):
    check(component)


def test_mmfusion_finds_it_through_the_entry_point():
    """As users get it: installed, through the entry point in pyproject.toml (a typo there fails here)."""
    try:
        importlib.metadata.distribution("$dist")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("$dist is not installed: pip install -e . (mmfusion finds plugins through installed entry points)")
    registry = load_registry()
    problems = [f.describe() for f in registry.failures if f.distribution == "$dist"]
    assert not problems, problems
    assert registry.get("$kind", "$dist:$name") is $class_name
'''


def _module(summary: str, imports: str, bases: tuple[str, str], fields: str, doc: str, body: str) -> str:
    """A component module from the parts where the kinds differ; what they share is the docstring, the config
    whose ``type`` is the name, and the class with ``name`` and ``Config`` (``bases``: the class's and config's)."""
    return f'''\
"""$title: {summary} (replace with yours)."""

from __future__ import annotations

{imports}


class $config_class({bases[1]}):
    type: Literal["$name"] = "$name"
{fields}


class $class_name({bases[0]}):
    """{doc}"""

    name = "$name"
    Config = $config_class
{body}'''


ENCODER = _module("hashed bag-of-words text encoder", """\
import random
import zlib
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from mmfusion import Encoder, EncoderConfig, EncoderOutput""", ("Encoder", "EncoderConfig"), """\
    buckets: int = Field(4096, ge=16, description="Hash buckets (embedding rows).")
    dim: int = Field(64, ge=1, description="Output width.")
    max_words: int = Field(64, ge=1)""",
                  "Each word hashed to an embedding; tokens with their mask, pooled by the mean.", """\
    modality = "text"

    def __init__(self, config: $config_class) -> None:
        super().__init__(config)
        self.embedding = nn.Embedding(config.buckets + 1, config.dim, padding_idx=0)
        self.output_dim = config.dim
        self.provides_tokens = True

    def preprocess(self, value, *, train=False):
        words = str(value).lower().split()[: self.config.max_words] or [""]
        return {"ids": torch.tensor([1 + zlib.crc32(w.encode()) % self.config.buckets for w in words])}

    def collate(self, items):
        length = max(len(item["ids"]) for item in items)
        ids = torch.zeros(len(items), length, dtype=torch.long)
        for row, item in enumerate(items):
            ids[row, : len(item["ids"])] = item["ids"]
        return {"ids": ids}

    def forward(self, inputs):
        ids = inputs["ids"]
        mask = ids > 0
        tokens = self.embedding(ids)
        weights = mask.unsqueeze(-1).to(tokens.dtype)
        return EncoderOutput((tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0), tokens, mask)

    def example_input(self, rng: random.Random):
        return " ".join(rng.choice(["red", "blue", "circle", "square", "is", "the"]) for _ in range(5))
""")

FUSION = _module("mean of projected modality vectors over the modalities each sample has", """\
from typing import Literal

from pydantic import Field
from torch import nn

from mmfusion import Fusion, FusionConfig""", ("Fusion", "FusionConfig"),
                 '    dim: int = Field(128, ge=1, description="Output width.")',
                 "Project each modality to `dim`, average over the present ones.", """
    def __init__(self, config: $config_class, input_dims) -> None:
        super().__init__(config, input_dims)
        self.projections = nn.ModuleDict({m: nn.Linear(d, config.dim) for m, d in self.input_dims.items()})
        self.output_dim = config.dim
        self.uses_tokens = False

    def forward(self, outputs, present):
        total, count = 0, 0
        for m in self.modalities:  # sorted, so the result never depends on mapping order
            weight = present[m].unsqueeze(1).to(outputs[m].pooled.dtype)
            total = total + self.projections[m](outputs[m].pooled) * weight
            count = count + weight
        return total / count.clamp(min=1.0)
""")

HEAD = _module("cosine-similarity classifier head with a learned temperature", """\
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from mmfusion import Classifier, HeadConfig""", ("Classifier", "HeadConfig"),
               '    scale: float = Field(10.0, gt=0, description="Initial temperature of the cosine logits.")',
               "Logits = scale · cos(x, w_c) for one learned prototype per class.", """
    def __init__(self, config: $config_class, input_dim: int, num_classes: int) -> None:
        super().__init__(config, input_dim, num_classes)
        self.prototypes = nn.Parameter(torch.randn(num_classes, input_dim) * 0.02)
        self.scale = nn.Parameter(torch.tensor(float(config.scale)))

    def forward(self, features):
        x = nn.functional.normalize(features, dim=-1)
        w = nn.functional.normalize(self.prototypes, dim=-1)
        return self.scale * x @ w.t()
""")

LOSS = _module("Poly-1 loss, cross-entropy plus epsilon * (1 - p of the target) (Leng et al. 2022)", """\
from typing import Literal

from pydantic import Field
from torch.nn import functional

from mmfusion import Loss, LossConfig""", ("Loss", "LossConfig"),
               '    epsilon: float = Field(1.0, description="Weight of the (1 - p_target) term; 0 is cross-entropy.")',
               "Cross-entropy plus epsilon * (1 - p_target), a mean over rows; uses class weights.", """\
    tasks = ("multiclass",)  # a tuple of task names: multiclass, multilabel, binary

    def forward(self, logits, targets):
        ce = functional.cross_entropy(logits, targets, weight=self.class_weights, reduction="none")
        target_p = functional.softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
        return (ce + self.config.epsilon * (1 - target_p)).mean()
""")

LOGGER = _module("one JSON line per epoch", """\
import json
from pathlib import Path
from typing import Literal

from pydantic import Field

from mmfusion import Logger, LoggerConfig""", ("Logger", "LoggerConfig"),
                 '    file: str = Field("epochs.jsonl", description="File name in the run directory.")',
                 "RUN/<file>: one JSON object per epoch; on --resume rewritten with the epochs that count.", """
    def __init__(self, config: $config_class, run_dir) -> None:
        super().__init__(config, run_dir)
        self.path = self.run_dir / config.file

    def log_config(self, spec):
        self.path.write_text("", encoding="utf-8")

    def resume(self, spec, history):
        # the epochs of the checkpoint resumed from: an epoch logged after it (a crash) must not show twice
        self.path.write_text("".join(json.dumps(dict(row)) + "\\n" for row in history), encoding="utf-8")

    def log_metrics(self, epoch, metrics):
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({**metrics, "epoch": epoch}) + "\\n")

    @classmethod
    def conformance_history(cls, config, run_dir):
        \"\"\"What the logger holds, read back, so the kit can check a resume keeps each epoch once.\"\"\"
        text = (Path(run_dir) / config.file).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]
""")

CALLBACK = _module("each epoch's largest gradient norm", """\
from typing import Literal

import torch
from pydantic import Field

from mmfusion import Callback, CallbackConfig""", ("Callback", "CallbackConfig"),
                   '    file: str = Field("grad_norms.txt", description="File name in the run directory.")',
                   "The metrics.csv column grad_norm_max and RUN/<file>, one line per epoch, from the saved state.", """
    def __init__(self, config: $config_class) -> None:
        super().__init__(config)
        self.largest, self.norms = 0.0, []

    def on_epoch_start(self, ctx):
        self.largest = 0.0

    def on_after_backward(self, ctx, batch):
        # before each optimiser step, before clipping: the gradients of this step
        norms = [p.grad.norm() for p in ctx.model.parameters() if p.grad is not None]
        if norms:
            self.largest = max(self.largest, float(torch.stack(norms).norm()))

    def on_epoch_end(self, ctx, row):
        row["grad_norm_max"] = self.largest  # a metrics.csv column
        self.norms.append(self.largest)
        if ctx.is_main:  # rewritten from the state, so a crash and --resume never leave a line twice
            (ctx.run_dir / self.config.file).write_text("".join(f"{n}\\n" for n in self.norms), encoding="utf-8")

    def state_dict(self):
        return {"norms": self.norms}

    def load_state_dict(self, state):
        self.norms = list(state["norms"])
""")

#: encoders a fusion or head example spec can name without any files (validated now, built from caches later)
_ENCODERS = ("  encoders:\n"
             "    image: {type: timm, model_name: resnet18, pretrained: true}\n"
             "    text: {type: hf_text, path: sentence-transformers/all-MiniLM-L6-v2}\n")

COMPONENTS = {
    "encoder": {"template": ENCODER, "hook": "mmfusion_encoders", "suffix": "Encoder",
                "usage": "model:\n  encoders:\n    text: {type: $name, dim: 64}\n  fusion: {type: concat}"},
    "fusion": {"template": FUSION, "hook": "mmfusion_fusions", "suffix": "Fusion",
               "usage": "model:\n" + _ENCODERS + "  fusion: {type: $name, dim: 128}"},
    "head": {"template": HEAD, "hook": "mmfusion_heads", "suffix": "Head",
             "usage": "model:\n" + _ENCODERS + "  fusion: {type: concat}\n  head: {type: $name}"},
    "loss": {"template": LOSS, "hook": "mmfusion_losses", "suffix": "Loss",
             "usage": "model:\n" + _ENCODERS + "  fusion: {type: concat}\ntrain:\n  loss: {type: $name, epsilon: 1.0}"},
    "logger": {"template": LOGGER, "hook": "mmfusion_loggers", "suffix": "Logger",
               "usage": "model:\n" + _ENCODERS + "  fusion: {type: concat}\ntrain:\n  loggers: [$name]"},
    "callback": {"template": CALLBACK, "hook": "mmfusion_callbacks", "suffix": "Callback",
                 "usage": "model:\n" + _ENCODERS + "  fusion: {type: concat}\ntrain:\n  callbacks: [$name]"},
}
