"""Checks every encoder must pass."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import torch

from ..errors import MMFusionError
from ..interfaces.encoder import Encoder, EncoderOutput
from .common import ConformanceError, build, check_configs, close, configs_for, require, roundtrip_state, workdir_for


def _built(component: type[Encoder]) -> Iterator[Encoder]:
    """Each conformance config built in eval mode; an encoder that learns preprocessing from data has it fitted on
    example values."""
    for config in configs_for(component):
        encoder: Encoder = build(component, config, kind="encoder")
        if encoder.learns_preprocessing():
            rng = random.Random(123)
            encoder.fit_preprocessing([encoder.example_input(rng) for _ in range(16)])
        yield encoder.eval()


def _encode(encoder: Encoder, values: list) -> EncoderOutput:  # type: ignore[type-arg]
    items = encoder.preprocess_batch(values)
    require(len(items) == len(values), "preprocess_batch must return one item per value")
    with torch.no_grad():
        return encoder(encoder.collate(items))


def _examples(encoder: Encoder, n: int = 3) -> list:  # type: ignore[type-arg]
    rng = random.Random(0)
    return [encoder.example_input(rng) for _ in range(n)]


def _same_outputs(first: Encoder, second: Encoder, atol: float) -> bool:
    """Whether both give the same pooled outputs on the same example values."""
    values = _examples(first)
    return close(_encode(first, values).pooled, _encode(second, values).pooled, atol=atol)


def check_encoder_config(component: type[Encoder]) -> None:
    """Configs round-trip through JSON, forbid unknown keys and carry the component's name as type."""
    check_configs(component)
    require(isinstance(component.modality, str) and component.modality, "encoder must declare a modality")


def check_encoder_builds_offline(component: type[Encoder]) -> None:
    """Building never touches the network and sets integer output_dim / bool provides_tokens."""
    for encoder in _built(component):
        require(isinstance(encoder.output_dim, int) and encoder.output_dim > 0,
                f"output_dim must be a positive int attribute, got {encoder.output_dim!r}")
        require(isinstance(encoder.provides_tokens, bool), "provides_tokens must be a bool")


def check_encoder_output_dims(component: type[Encoder]) -> None:
    """forward returns pooled [B, output_dim] and, when provides_tokens, tokens [B, T, output_dim] + mask."""
    for encoder in _built(component):
        out = _encode(encoder, _examples(encoder))
        require(isinstance(out, EncoderOutput), f"forward must return EncoderOutput, got {type(out).__name__}")
        require(tuple(out.pooled.shape) == (3, encoder.output_dim),
                f"pooled has shape {tuple(out.pooled.shape)}, expected (3, {encoder.output_dim})")
        require(bool(torch.isfinite(out.pooled).all()), "pooled holds non-finite values")
        if encoder.provides_tokens:
            require(out.tokens is not None, "provides_tokens is True but forward returned no tokens")
            require(out.tokens.ndim == 3 and out.tokens.shape[0] == 3 and out.tokens.shape[2] == encoder.output_dim,
                    f"tokens have shape {tuple(out.tokens.shape)}, expected (3, T, {encoder.output_dim})")
            if out.token_mask is not None:
                require(out.token_mask.dtype == torch.bool and out.token_mask.shape == out.tokens.shape[:2],
                        "token_mask must be bool [B, T]")
        else:
            require(out.tokens is None, "provides_tokens is False but forward returned tokens")


def check_encoder_batch_independence(component: type[Encoder]) -> None:
    """A sample's output does not depend on the other samples in its batch (padding is masked)."""
    for encoder in _built(component):
        values = _examples(encoder)
        together = _encode(encoder, values)
        alone = _encode(encoder, values[:1])
        require(close(together.pooled[:1], alone.pooled, atol=1e-3),
                "the pooled output of a sample changes when other samples share its batch (is padding masked?)")


def check_encoder_deterministic(component: type[Encoder]) -> None:
    """In eval mode the same input gives the same output."""
    for encoder in _built(component):
        require(_same_outputs(encoder, encoder, 1e-6), "two eval-mode forward passes on the same input differ")


def check_encoder_state_dict_roundtrip(component: type[Encoder]) -> None:
    """Learned preprocessing (as JSON) and weights (safetensors) restore a fresh instance's outputs exactly."""
    for config, first in zip(configs_for(component), _built(component)):
        second = build(component, config, kind="encoder", seed=1).eval()
        learned = json.loads(json.dumps(first.preprocessing_state()))
        require(isinstance(learned, dict), "preprocessing_state() must return a JSON-serialisable dict")
        second.load_preprocessing_state(learned)  # what load_run does before loading the weights
        roundtrip_state(first, second, component)
        require(_same_outputs(first, second, 1e-5),
                "outputs differ after loading the saved state_dict (is some state not in state_dict?)")


def check_encoder_freeze(component: type[Encoder]) -> None:
    """A frozen encoder has no trainable parameters and stays in eval mode; unfrozen ones get gradients."""
    for encoder in _built(component):
        encoder.set_frozen(True)
        encoder.train()
        require(not encoder.training, "a frozen encoder must stay in eval mode when .train() is called")
        require(not any(p.requires_grad for p in encoder.parameters()), "a frozen encoder has trainable parameters")
        encoder.set_frozen(False)
        encoder.train()
        params = list(encoder.parameters())
        if params:
            pooled = encoder(encoder.collate(encoder.preprocess_batch(_examples(encoder, 2)))).pooled.float()
            (pooled * torch.randn(pooled.shape, generator=torch.Generator().manual_seed(0))).sum().backward()
            require(any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params),
                    "no parameter received a gradient from the pooled output")


def _perturbed(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every floating tensor moved by noise (tied tensors alike), each one a separate contiguous copy."""
    generator = torch.Generator().manual_seed(5)
    noise: dict[tuple[int, tuple[int, ...]], torch.Tensor] = {}
    out = {}
    for key, tensor in state.items():
        tensor = tensor.detach().cpu()
        if tensor.is_floating_point():
            tied = (tensor.data_ptr(), tuple(tensor.shape))
            if tied not in noise:
                noise[tied] = torch.randn(tensor.shape, generator=generator).to(tensor.dtype) * 0.05
            tensor = tensor + noise[tied]
        out[key] = tensor.clone().contiguous()
    return out


def check_encoder_loads_weights_option(component: type[Encoder]) -> None:
    """``weights:`` (a safetensors file saved from ``weights_target()``) really sets the parameters."""
    from safetensors.torch import save_file

    for index, config in enumerate(configs_for(component)):
        if "weights" not in type(config).model_fields:
            continue
        # unfitted, like the builder's encoder: weights load before fit_preprocessing
        saved = _perturbed(build(component, config, kind="encoder").weights_target().state_dict())
        if not any(t.is_floating_point() for t in saved.values()):
            continue  # nothing a weights file could set
        path = workdir_for(component) / f"perturbed-{index}.safetensors"
        save_file(saved, str(path))
        try:
            encoder = build(component, config.model_copy(update={"weights": str(path)}), kind="encoder", seed=1)
        except MMFusionError as exc:
            raise ConformanceError(f"building with `weights:` naming a file saved from weights_target().state_dict() "
                                   f"failed: {exc}") from None
        loaded = encoder.weights_target().state_dict()
        differing = [k for k, v in saved.items()
                     if v.is_floating_point() and (k not in loaded or not torch.equal(loaded[k].cpu(), v))]
        require(not differing,
                f"`weights:` was ignored: after building with weights: {path.name}, {len(differing)} of "
                f"{len(saved)} tensors differ from the file (e.g. {differing[:2]}). Let the builder load it (the "
                "default), or, if __init__ loads it itself, set loads_own_weights = True and load it there")
        require(encoder.weights_path is not None,
                "after loading `weights:`, weights_path must name the file (it marks the encoder as pretrained)")


ENCODER_CHECKS = [check_encoder_config, check_encoder_builds_offline, check_encoder_output_dims,
                  check_encoder_batch_independence, check_encoder_deterministic, check_encoder_state_dict_roundtrip,
                  check_encoder_freeze, check_encoder_loads_weights_option]
