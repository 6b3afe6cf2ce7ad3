"""Make real (tiny) installed distributions with entry points, on a temporary sys.path entry."""

from __future__ import annotations

import textwrap
from pathlib import Path


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
