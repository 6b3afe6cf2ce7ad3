"""The encoder contract: raw values of one modality → pooled vector (+ token sequence)."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from .config import EncoderConfig


class EncoderOutput(NamedTuple):
    """What an encoder returns for a batch of B samples."""

    #: ``[B, D]`` one vector per sample
    pooled: Tensor
    #: ``[B, T, D]`` a token sequence (text tokens, image patches or grid cells), or None when the encoder has none
    tokens: Tensor | None = None
    #: ``[B, T]`` bool, True for real tokens and False for padding; None means all real
    token_mask: Tensor | None = None

    def as_tokens(self) -> tuple[Tensor, Tensor]:
        """Return ``(tokens [B,T,D], mask [B,T])``, using the pooled vector as a single token if needed."""
        tokens = self.pooled.unsqueeze(1) if self.tokens is None else self.tokens
        if self.tokens is None or self.token_mask is None:
            return tokens, torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        return tokens, self.token_mask


class Encoder(nn.Module):
    """Base class of encoders: subclasses set ``name``, ``Config`` and ``modality``, set ``self.output_dim`` (and
    ``self.provides_tokens``) in ``__init__`` (dimensions are attributes, never probed with a dummy forward), and
    implement :meth:`preprocess`, :meth:`forward` and :meth:`example_input`. The builder loads the config's
    ``weights:`` after ``__init__`` (:func:`mmfusion.weights.loading.load_configured_weights`)."""

    name: ClassVar[str]
    Config: ClassVar[type[EncoderConfig]]
    modality: ClassVar[str]

    output_dim: int
    provides_tokens: bool = False
    #: preprocess all distinct values once up front (cheap per value, e.g. tokenising) instead of per epoch
    preprocess_up_front: ClassVar[bool] = False
    #: convolutional image encoders run faster in channels_last memory format
    prefers_channels_last: ClassVar[bool] = False
    #: True when ``__init__`` loads ``config.weights`` itself (e.g. into a backbone before changing it); the
    #: builder then leaves loading them out. Such an encoder must set ``weights_path``.
    loads_own_weights: ClassVar[bool] = False
    #: the weights file or folder loaded (``weights:`` or a pretrained checkpoint); None: random initialisation
    weights_path: Path | None = None
    #: the parameter-efficient method the builder applied (``peft:``: "lora", "ia3", "bias"); None: none
    peft_type: str | None = None

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self._frozen = False
        self._peft_trainable: frozenset[str] | None = None

    def preprocess(self, value: Any, *, train: bool = False) -> dict[str, Tensor]:
        """Turn one raw value (a PIL image, a string, ...) into unbatched tensors; ``train``: may augment."""
        raise NotImplementedError

    def preprocess_batch(self, values: Sequence[Any], *, train: bool = False) -> list[dict[str, Tensor]]:
        """Preprocess many values at once; override when batching is faster (tokenizers)."""
        return [self.preprocess(value, train=train) for value in values]

    def collate(self, items: Sequence[dict[str, Tensor]]) -> dict[str, Tensor]:
        """Batch preprocessed items. The default stacks equally shaped tensors; override to pad."""
        return {key: torch.stack([item[key] for item in items]) for key in items[0]}

    def example_input(self, rng: random.Random) -> Any:
        """Return one plausible raw value, used for dummy batches and the conformance kit."""
        raise NotImplementedError

    def fit_preprocessing(self, values: Sequence[Any]) -> None:
        """Learn data-dependent preprocessing (standardise numbers, build a vocabulary; layers may be resized) from
        the training split's present raw values, once before training. Whatever it learns must come back from
        :meth:`preprocessing_state` so that a saved run can be rebuilt. The default learns nothing."""

    def preprocessing_state(self) -> dict[str, Any]:
        """JSON-serialisable state learned by :meth:`fit_preprocessing` (saved in the run directory)."""
        return {}

    def load_preprocessing_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`preprocessing_state` (called before the weights are loaded)."""

    @classmethod
    def learns_preprocessing(cls) -> bool:
        """Whether this encoder overrides :meth:`fit_preprocessing`."""
        return cls.fit_preprocessing is not Encoder.fit_preprocessing

    def augments(self) -> bool:
        """Whether ``preprocess(train=True)`` differs from ``train=False`` (disables feature caching unless
        :meth:`augment_views` says how many views to cache)."""
        return False

    def augment_views(self) -> int | None:
        """How many views of each training value the feature cache keeps when this encoder is frozen: view 0 the
        clean value, 1..K-1 from :meth:`preprocess_views`, one picked per sample each epoch. None: no cached views
        (an encoder that :meth:`augments` then runs live, augmenting afresh each epoch)."""
        return None

    def augmentation_key(self) -> dict[str, Any]:
        """JSON-serialisable settings that shape :meth:`preprocess_views`, except how many views: they key the
        cache folder of the augmented views. Put a version in it and change it when the augmentation changes."""
        return {}

    def preprocess_views(self, values: Sequence[Any], seeds: Sequence[int]) -> list[dict[str, Tensor]]:
        """One augmented view of each value, drawn from its seed alone (never a global RNG): the same seed gives
        the same view in any thread or process, which is what makes cached views reproducible."""
        raise NotImplementedError(f"encoder '{self.name}' gives augment_views() but no preprocess_views()")

    def forward(self, inputs: dict[str, Tensor]) -> EncoderOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def set_frozen(self, frozen: bool) -> None:
        """Freeze (no gradients, always eval mode: batch-norm statistics stay fixed) or unfreeze; unfrozen, an
        encoder adapted by :meth:`use_peft` trains only what its method trains."""
        self._frozen = frozen
        self.requires_grad_(not frozen)
        if frozen:
            super().train(False)
        elif self._peft_trainable is not None:
            for name, param in self.named_parameters():
                param.requires_grad_(name in self._peft_trainable)

    def use_peft(self, method: str, trainable: Collection[str]) -> None:
        """Record that ``method`` adapted this encoder and that only the parameters named ``trainable`` train (the
        builder calls it, :mod:`mmfusion.model.peft`); the others are its base weights, fixed."""
        self.peft_type = method
        self._peft_trainable = frozenset(trainable)
        self.set_frozen(False)

    def peft_target(self) -> nn.Module:
        """The module ``peft:`` adapts: the backbone :meth:`weights_target` names, which holds the layers whose
        names (``query``, ``qkv``) the method's ``target_modules`` match."""
        return self.weights_target()

    @property
    def frozen(self) -> bool:
        return self._frozen

    @property
    def pretrained(self) -> bool:
        """Whether pretrained weights were loaded (such encoders train with ``train.encoder_lr``)."""
        return self.weights_path is not None

    def weights_target(self) -> nn.Module:
        """The module a ``weights:`` file is loaded into: the encoder itself, or (overridden) a wrapped backbone
        (``self.net``), so that a file saved from that library's model loads as it is."""
        return self

    def train(self, mode: bool = True) -> Encoder:
        return super().train(mode and not self._frozen)

    #: config fields that do not change the function once the weights are known (see :meth:`feature_key`); an
    #: encoder adds its own fields that only locate weights, and must never list one that shapes the network
    feature_key_ignores: ClassVar[tuple[str, ...]] = ("weights", "pretrained", "freeze")

    def feature_key(self) -> str:
        """A string that changes whenever the raw-value → features function may change: the key of frozen
        encoders' feature cache. The default combines the class, the config, the fitted preprocessing state and
        the :meth:`weights_digest`, so that two seeds or weights files never share cached features; the fields in
        :attr:`feature_key_ignores` are left out because a run reloads its encoders without their weights files,
        and must find the features cached in training."""
        config = self.config.model_dump(mode="json")
        if self.augment_views() is not None and "augment" in config:
            # the clean view is the un-augmented function: its features are shared with runs without `augment`
            config["augment"] = type(self.config).model_fields["augment"].default
        parts: dict[str, Any] = {
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "config": {k: v for k, v in config.items() if k not in self.feature_key_ignores},
            "weights": self.weights_digest(),
        }
        if state := self.preprocessing_state():
            parts["preprocessing"] = state
        return json.dumps(parts, sort_keys=True, default=str)

    def weights_digest(self, names: Collection[str] | None = None) -> str:
        """A hash of every parameter and buffer (names, dtypes, shapes, values), or of the state-dict entries
        ``names`` only (a PEFT encoder's base weights); about 1 s per GB, so remembered until a tensor is replaced,
        moved or changed in place (its version counter moves: ``load_state_dict``, ``copy_``, an optimiser step; not
        changes made through ``tensor.data``)."""
        state = self.state_dict()
        if names is not None:
            state = {name: tensor for name, tensor in state.items() if name in names}
        try:
            signature: tuple | None = tuple((name, t.data_ptr(), t._version, t.dtype, tuple(t.shape), str(t.device))
                                            for name, t in state.items())
        except RuntimeError:  # inference tensors have no version counter: hash every time
            signature = None
        remembered = self.__dict__.setdefault("_weights_digests", {})
        key = None if names is None else frozenset(names)
        if signature is not None and key in remembered and remembered[key][0] == signature:
            return remembered[key][1]
        digest = hashlib.blake2b(digest_size=16)
        for name, tensor in state.items():
            tensor = tensor.detach().cpu().contiguous()
            digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
        remembered[key] = (signature, digest.hexdigest())
        return digest.hexdigest()

    @classmethod
    def conformance_configs(cls, workdir: Path) -> list[EncoderConfig]:
        """Small configs that build offline, for :mod:`mmfusion.testing`; ``workdir`` is an empty folder the
        encoder may write tiny weights or vocabularies into."""
        return [cls.Config()]
