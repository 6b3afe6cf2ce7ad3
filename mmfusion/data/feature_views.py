"""Augmented views of frozen encoders' features: which seed makes each view, and which view each epoch uses.

With ``augment: {views: K}`` a frozen encoder's features are cached for K views of every training value. View 0
is the clean value, cached where runs without ``augment`` cache it (evaluate, validation and test read it);
views 1..K-1 are augmented and live in a folder keyed by the clean key plus the encoder's
:meth:`~mmfusion.interfaces.encoder.Encoder.augmentation_key`, each under its value's fingerprint and view
index. A view is drawn from a seed derived from the fingerprint and the view index, not from the run's seed, so
every run, split and process computes the same view and reuses the cache; raising K adds views, keeping the
others. Each epoch, a generator seeded by (run seed, epoch, input name) picks one view per sample, so a resumed
run picks what the uninterrupted one picked.
"""

from __future__ import annotations

import hashlib

import torch
from torch import Tensor

#: the version of how seeds and keys are derived below; part of the augmented views' folder key
SCHEME = 1


def view_key(fingerprint: str, view: int) -> str:
    """The cache entry of view ``view`` (≥ 1) of the value with ``fingerprint``."""
    return f"{fingerprint}\nview {view}"


def _number(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


def view_seed(fingerprint: str, view: int) -> int:
    """The seed augmented view ``view`` of a value is drawn from: a function of its fingerprint and index only."""
    return _number(f"view seed {SCHEME}\n{view}\n{fingerprint}")


def view_choice(count: int, views: int, *, seed: int, epoch: int, name: str) -> Tensor:
    """Which view (0..views-1) each of ``count`` samples uses in ``epoch``: deterministic given the arguments."""
    generator = torch.Generator().manual_seed(_number(f"view choice\n{name}\n{seed}\n{epoch}"))
    return torch.randint(views, (count,), generator=generator)
