"""Loading Hugging Face models the way transformers does: a local folder, a ``package:`` folder or a Hub id.

A Hub id downloads into the Hugging Face cache (``HF_HOME``) on first use and is read from there afterwards,
as with ``AutoModel.from_pretrained`` alone. In offline mode (:mod:`mmfusion.weights.offline`) only the cache is
read. Every failure (a wrong id, a missing file, no network, offline without a cached copy) becomes one
:class:`~mmfusion.errors.WeightsError` that names the id and says what to do.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from ..errors import SpecError, WeightsError, did_you_mean
from ..interfaces.locations import PACKAGE_PREFIX, SpecLocation, resolve_location
from ..interfaces.peft import PeftEncoderConfig
from ..weights.offline import offline_variable
from .hf_towers import Towers, tower_config, towers_for


class HFModelConfig(PeftEncoderConfig):
    """The options ``hf_text`` and ``hf_image`` share: where the model comes from and how it is built."""

    path: SpecLocation = Field(
        description="A Hugging Face Hub id (e.g. bert-base-uncased, google/vit-base-patch16-224, "
        "openai/clip-vit-base-patch32; downloaded into the Hugging Face cache unless offline), a local model "
        "folder, or 'package:pkg/folder'.")
    pretrained: bool = Field(True, description="Load the weights in `path`; false builds the architecture from its "
                             "config, randomly initialised.")
    config_overrides: dict[str, Any] = Field(
        default_factory=dict, description="Changes to the model config (a CLIP/SigLIP tower's own), e.g. "
        "{num_hidden_layers: 6}; architecture changes need pretrained: false.")
    projection: bool = Field(
        False, description="CLIP/SigLIP towers: pass pooled vector and tokens through the model's projection into "
        "the image-text space the two towers share (zero-shot aligned).")


@dataclass(frozen=True)
class HFSource:
    """Where a model comes from: ``name`` is what ``from_pretrained`` gets (a folder path or a Hub id)."""

    name: str
    repo_id: str | None  # None for local folders
    folder: Path | None  # the local folder, or the cached snapshot holding the Hub id's config.json
    cache_only: bool = False  # the Hub could not be reached, and a cached copy is there

    @property
    def local_files_only(self) -> bool:  # local folders, offline mode, or a cached copy of an unreachable Hub id
        return self.repo_id is None or self.cache_only or offline_variable() is not None


def _looks_like_path(location: str) -> bool:
    """A location no Hub id can be (ids are ``name`` or ``user/name``): it was meant as a local path."""
    return (location.startswith((".", "/", "~", "\\")) or location.count("/") > 1 or "\\" in location
            or location.endswith((".json", ".safetensors", ".bin", ".pth")))


_UNREACHABLE = {"ConnectError", "ConnectionError", "TimeoutException", "NetworkError"}


def _cached_copy_if_unreachable(repo_id: str, *, what: str) -> Path | None:
    """The cached config.json of ``repo_id`` when the Hub cannot be reached right now, else None.

    Online, transformers asks the Hub about every file, cached or not, and huggingface_hub retries a refused
    connection for about 20 seconds for each file it has no copy of (a model's optional files): one quick
    request first tells whether the cached copy should simply be used, as offline mode would.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url, try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, "config.json")
    if not isinstance(cached, str):
        return None
    try:
        get_hf_file_metadata(hf_hub_url(repo_id, "config.json"), timeout=10)
    except Exception as exc:
        if _kinds(exc) & _UNREACHABLE:
            warnings.warn(f"{what}: the Hugging Face Hub cannot be reached ({_detail(exc)}); using the cached copy "
                          f"of '{repo_id}' (MMFUSION_OFFLINE=1 skips this check)", stacklevel=3)
            return Path(cached)
    return None


def hf_source(location: str, *, what: str) -> HFSource:
    """Resolve a spec location; a Hub id's config.json is fetched (or found in the cache) now, so that a
    wrong id, no network or offline mode fails here, with a message naming the id.

    Raises:
        WeightsError: the location is neither an existing path nor a usable Hub id.
    """
    if location.startswith(PACKAGE_PREFIX) or Path(location).expanduser().exists():
        folder = resolve_location(location, what=what)
        return HFSource(str(folder), None, folder)
    if _looks_like_path(location):
        raise WeightsError(f"{what}: '{location}' does not exist (looked at {Path(location).expanduser().resolve()}) "
                           "and is not a Hugging Face Hub id (user/name)")
    from huggingface_hub import hf_hub_download

    offline = offline_variable() is not None
    cached = None if offline else _cached_copy_if_unreachable(location, what=what)
    if cached is not None:
        return HFSource(location, location, cached.parent, cache_only=True)
    with hub_errors(location, what=what), hub_offline():
        config_file = hf_hub_download(location, "config.json", local_files_only=offline)
    return HFSource(location, location, Path(config_file).parent)


def hub_offline(source: HFSource | None = None) -> contextlib.AbstractContextManager[None]:
    """Keep huggingface_hub offline for the call in offline mode (or for a cached copy of an unreachable Hub id):
    it reads HF_HUB_OFFLINE once, at import, and does not know MMFUSION_OFFLINE, so a call deep inside
    transformers or timm could still try the network."""
    if offline_variable() is None and not (source is not None and source.cache_only):
        return contextlib.nullcontext()
    from huggingface_hub import constants

    return switched_on((constants, "HF_HUB_OFFLINE"))


@contextlib.contextmanager
def switched_on(*switches: tuple[Any, str]) -> Iterator[None]:
    """Set the boolean module attributes ``(module, name)`` that exist to True for the call, then restore them."""
    saved = [(module, name, getattr(module, name)) for module, name in switches if hasattr(module, name)]
    try:
        for module, name, _ in saved:
            setattr(module, name, True)
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and not any(current is s for s in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _kinds(exc: BaseException) -> set[str]:
    """Class names (with their bases) along the exception's cause chain: transformers wraps Hub errors in
    OSError, raised ``from`` the huggingface_hub error that says what happened."""
    return {cls.__name__ for e in _chain(exc) for cls in type(e).__mro__}


def _detail(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


_LOCAL_FOLDER = "set the path to a local model folder or a 'package:' folder"


def hub_problem(exc: BaseException, repo_id: str, *, what: str, instead: str = _LOCAL_FOLDER) -> WeightsError:
    """One error for a failed Hub load, by what went wrong, naming ``repo_id`` and what to do (``instead``: the
    option the spec can set instead of a download)."""
    from huggingface_hub import constants

    kinds, detail, endpoint = _kinds(exc), _detail(_chain(exc)[-1]), constants.ENDPOINT
    supply = (f"download it once where there is network (a run without offline mode, or `hf download {repo_id}`) "
              f"and copy the Hugging Face cache ({constants.HF_HUB_CACHE}) here, or {instead}")
    variable = offline_variable()
    if variable is not None and kinds & {"LocalEntryNotFoundError", "OfflineModeIsEnabled", "EntryNotFoundError"}:
        return WeightsError(f"{what}: '{repo_id}' (or a file it needs) is not in the local Hugging Face cache, and "
                            f"offline mode is on ({variable}=1), so nothing is downloaded. To supply it, {supply}.")
    if "GatedRepoError" in kinds:
        return WeightsError(f"{what}: '{repo_id}' is a gated model on the Hugging Face Hub: accept its terms on its "
                            f"page ({endpoint}/{repo_id}) and log in with `hf auth login`. ({detail})")
    if "RepositoryNotFoundError" in kinds:
        return WeightsError(f"{what}: '{repo_id}' is neither a local folder (looked at {Path(repo_id).resolve()}) nor "
                            f"a model on the Hugging Face Hub ({endpoint}) that this machine may read. Check the id "
                            "(user/name, as on huggingface.co/models); a private model needs `hf auth login` first.")
    if "RevisionNotFoundError" in kinds:
        return WeightsError(f"{what}: the Hub model '{repo_id}' has no such revision ({detail})")
    if "RemoteEntryNotFoundError" in kinds:
        return WeightsError(f"{what}: the Hub model '{repo_id}' lacks a file mmfusion needs ({detail}); is it a "
                            "transformers model (config.json and weights)?")
    if kinds & (_UNREACHABLE | {"LocalEntryNotFoundError", "OfflineModeIsEnabled"}):
        return WeightsError(f"{what}: cannot download '{repo_id}': the Hugging Face Hub ({endpoint}) cannot be "
                            "reached and the model is not in the local cache. Check the network (proxy, "
                            f"HF_ENDPOINT). To work without network, {supply}; with MMFUSION_OFFLINE=1 only the cache "
                            f"is used. ({detail})")
    return WeightsError(f"{what}: cannot load '{repo_id}': {detail}")


#: what huggingface_hub, httpx and transformers raise when a download fails (class names, bases included)
_HUB_FAILURES = {"HfHubHTTPError", "EntryNotFoundError", "OfflineModeIsEnabled", "RepositoryNotFoundError",
                 "RevisionNotFoundError", "GatedRepoError", "HTTPError", "NetworkError", "TimeoutException",
                 "ConnectionError"}


def is_hub_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is a failed Hub request: no such id or file, no network."""
    return bool(_kinds(exc) & _HUB_FAILURES)


@contextlib.contextmanager
def hub_errors(repo_id: str | None, *, what: str, instead: str = _LOCAL_FOLDER) -> Iterator[None]:
    """Turn a failed download of Hub id ``repo_id`` into :func:`hub_problem`'s error; anything else (and any
    failure with a local folder, ``repo_id`` None) passes through for the caller to explain."""
    try:
        yield
    except Exception as exc:
        if repo_id is None or isinstance(exc, WeightsError) or not is_hub_failure(exc):
            raise
        raise hub_problem(exc, repo_id, what=what, instead=instead) from None


def apply_overrides(model_config: Any, overrides: Mapping[str, Any], *, what: str) -> Any:
    """Set ``config_overrides`` on a transformers config.

    Raises:
        SpecError: an override names no setting of this config (it would silently change nothing).
    """
    unknown = [key for key in overrides if not hasattr(model_config, key)]
    if unknown:
        known = sorted(k for k in model_config.to_dict() if not k.startswith("_"))
        raise SpecError(f"{what}: '{unknown[0]}' is not a setting of the {type(model_config).__name__}"
                        f"{did_you_mean(unknown[0], known)}; its settings: {', '.join(known)}")
    for key, value in overrides.items():
        setattr(model_config, key, value)
    return model_config


_UNUSED_WEIGHTS = ("UNEXPECTED", "were not used when initializing")
_REAL_PROBLEMS = ("MISSING", "MISMATCH", "newly initialized", "not initialized")


def _not_unused_weights(record: logging.LogRecord) -> bool:
    """Drops transformers' report of checkpoint weights the model leaves unused (a pooler we build without, the
    other tower of a CLIP checkpoint); a report of missing or mis-shaped weights still gets through."""
    text = record.getMessage()
    return not (any(k in text for k in _UNUSED_WEIGHTS) and not any(k in text for k in _REAL_PROBLEMS))


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """For this call only: no "weights not used" report and no "Loading weights" bar from transformers.

    Download bars (huggingface_hub's) stay as the host set them: a first download can take minutes. A library
    must not change its host's logging: the filter is removed and the progress-bar settings of transformers
    and huggingface_hub are restored afterwards, whatever they were.
    """
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as hf_logging

    loggers = [logging.getLogger(name) for name in ("transformers.modeling_utils", "transformers.utils.loading_report")]
    bars, hub_bars_off = hf_logging.is_progress_bar_enabled(), hub_utils.are_progress_bars_disabled()
    for logger in loggers:
        logger.addFilter(_not_unused_weights)
    hf_logging.disable_progress_bar()  # turns huggingface_hub's bars off too: theirs come back on
    if not hub_bars_off:
        hub_utils.enable_progress_bars()
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(_not_unused_weights)
        if bars:
            hf_logging.enable_progress_bar()
        (hub_utils.disable_progress_bars if hub_bars_off else hub_utils.enable_progress_bars)()


def hf_tower_config(config: HFModelConfig, *, kind: str, tower: str) -> tuple[HFSource, Any, Towers | None]:
    """Where ``config.path`` is, the transformers config of its model (or of its ``tower``) with
    ``config_overrides`` applied, and its family's tower classes (None for a single-tower model).

    Raises:
        SpecError: ``projection`` on a single-tower model, an unknown dual encoder, or an unknown override.
    """
    from transformers import AutoConfig

    source = hf_source(config.path, what=f"{kind} path")
    with hub_errors(source.repo_id, what=f"{kind} path"), hub_offline(source):
        model_config = AutoConfig.from_pretrained(source.name, local_files_only=source.local_files_only)
    towers = towers_for(model_config, what=f"{kind} path", tower=tower)
    if config.projection and towers is None:
        raise SpecError(f"{kind}: projection: true needs a CLIP or SigLIP checkpoint (a {tower} tower with a "
                        f"projection into an image-text space); '{config.path}' is a {model_config.model_type} "
                        "model. Remove `projection`.")
    sub_config = apply_overrides(tower_config(model_config, towers, tower), config.config_overrides,
                                 what=f"{kind} config_overrides")
    return source, sub_config, towers


def load_hf_model(config: HFModelConfig, source: HFSource, model_config: Any, towers: Towers | None, *, kind: str,
                  tower: str, options: Mapping[str, Any]) -> Any:
    """The model (or its family's ``tower`` class): built from ``model_config`` (random init) or loaded with its
    pretrained weights; ``options`` (e.g. ``add_pooling_layer``) are dropped for models that do not take them.

    Raises:
        WeightsError: the pretrained weights cannot be loaded (a hint when ``config_overrides`` changed the model).
    """
    from transformers import AutoModel

    model_class = towers.tower_class(tower, config.projection) if towers is not None else AutoModel
    if not config.pretrained:
        build = AutoModel.from_config if model_class is AutoModel else model_class
        return _without_unknown_options(build, options, model_config)
    try:
        with hub_errors(source.repo_id, what=f"{kind} path"), hub_offline(source), quiet_loading():
            return _without_unknown_options(model_class.from_pretrained, options, source.name, config=model_config,
                                            local_files_only=source.local_files_only)
    except (OSError, ValueError, RuntimeError) as exc:
        hint = (" With config_overrides that change the architecture, set `pretrained: false` (random init)."
                if config.config_overrides else "")
        raise WeightsError(f"{kind}: cannot load pretrained weights from {source.name}: "
                           f"{str(exc).strip().rstrip('.')}.{hint}") from None


def _without_unknown_options(call: Any, options: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs, **options)
    except TypeError:  # a model without that option (e.g. no pooler to leave out)
        return call(*args, **kwargs)
