"""Dataset source ``hf_datasets``: a Hugging Face ``datasets`` dataset (Hub id, data folder or ``save_to_disk`` folder).

The dataset's columns become table columns as the CSV source's do, with three conversions:

- ``Image`` columns keep the ``{bytes, path}`` struct the dataset stores: pictures stay encoded in memory
  (their file sizes, not their pixels) and the image modality decodes each one when a sample is used.
- ``ClassLabel`` columns hold the label names (no label, -1, is an empty cell); the names' order in the
  feature is the run's label order.
- ``Sequence(ClassLabel)`` columns hold a list of names per row: multilabel data (as the label column they make
  the task multilabel, unless ``data.task`` names another, which is an error naming the column).

``datasets`` is imported only when the source loads, so listing plugins does not pay for it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import DataError
from ..hookspecs import hookimpl
from ..interfaces.config import DatasetConfig
from ..interfaces.dataset import DatasetSource, DatasetTables
from ..interfaces.locations import SpecLocation
from ..weights.offline import offline_variable
from .hf_common import switched_on

if TYPE_CHECKING:
    import pandas as pd

#: split names tried, in order, for ``splits.validation: auto`` and ``splits.test: auto``
AUTO_SPLITS = {"validation": ("validation", "valid", "val", "dev"), "test": ("test",)}
#: single data files read with the ``datasets`` builder for their format
FILE_BUILDERS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv", ".json": "json",
                 ".jsonl": "json", ".arrow": "arrow"}


class HfSplits(BaseModel):
    """Which of the dataset's splits feeds each table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train: str = Field("train", description="The dataset's split used for training.")
    validation: str | None = Field(
        "auto", description="auto: the first of validation, valid, val, dev the dataset has with labels (none: "
        "split off train by data.split); null: always split off train.")
    test: str | None = Field("auto", description="auto: the dataset's 'test' split if it has one with labels; "
                             "null: none (or split off train by data.split.test).")


class HfDatasetsConfig(DatasetConfig):
    type: Literal["hf_datasets"] = "hf_datasets"
    path: SpecLocation = Field(
        description="A Hub dataset id (user/name), a local folder of data files (or one data file), or a folder "
        "written by save_to_disk.")
    name: str | None = Field(None, description="The dataset's configuration (subset), e.g. 'sst2' of 'nyu-mll/glue'.")
    splits: HfSplits = Field(default_factory=HfSplits, description="Which split feeds train / validation / test.")
    revision: str | None = Field(None, description="Hub revision: a branch, tag or commit.")
    cache_dir: str | None = Field(None, description="Hugging Face datasets cache (default: HF_DATASETS_CACHE).")
    trust_remote_code: bool = Field(
        False, description="Run the dataset's loading script (datasets < 4 only; later versions run none).")


class HfDatasetsDataset(DatasetSource):
    """Tables from a Hugging Face dataset: images in memory, class labels by name. A split that ``auto`` chose
    whose labels are all missing (-1: a test split published without them) is no table."""

    name = "hf_datasets"
    Config = HfDatasetsConfig
    config: HfDatasetsConfig

    def load(self) -> DatasetTables:
        try:
            import datasets
        except ImportError:
            raise DataError("dataset source 'hf_datasets' needs the datasets package: pip install 'mmfusion[hf]' "
                            "(or pip install 'datasets>=2.16')") from None
        cfg = self.config
        local = Path(cfg.path).expanduser()
        shown = (local.name if local.exists() else cfg.path) + (f":{cfg.name}" if cfg.name else "")
        loaded = _load(datasets, cfg, local)
        chosen, automatic = _choose_splits(loaded, cfg.splits, shown)
        tables = {role: _to_frame(datasets, dataset) for role, (_, dataset) in chosen.items()}
        features = chosen["train"][1].features
        label_column = _label_column(datasets, features)
        for role in automatic & set(tables):
            if label_column in tables[role].columns and tables[role][label_column].isna().all():
                del tables[role], chosen[role]
        label = _class_label(datasets, features[label_column]) if label_column else None
        return DatasetTables(
            train=tables["train"], validation=tables.get("validation"), test=tables.get("test"),
            root=(local if local.is_dir() else local.parent).resolve() if local.exists() else None,
            columns=_default_columns(datasets, features, label_column), label_column=label_column,
            labels=[str(n) for n in label.names] if label is not None else None,
            names={role: f"hf_datasets {shown}[{split}]" for role, (split, _) in chosen.items()})


def _load(datasets: Any, cfg: HfDatasetsConfig, local: Path) -> Any:
    """A Dataset or DatasetDict: from a save_to_disk folder (Dataset's state.json, DatasetDict's
    dataset_dict.json), a local data folder or file, or the Hub."""
    if local.is_dir() and ((local / "state.json").is_file() or (local / "dataset_dict.json").is_file()):
        extra = [key for key in ("name", "revision", "trust_remote_code") if getattr(cfg, key)]
        if extra:  # never silently ignored
            verb = "does" if len(extra) == 1 else "do"
            raise DataError(f"data.source: {' and '.join(extra)} {verb} not apply to {local}, a folder written by "
                            "save_to_disk (it holds one configuration at one revision); remove them")
        try:
            return datasets.load_from_disk(str(local))
        except Exception as exc:  # a damaged or partial folder: name it, whatever the library raised
            raise DataError(f"cannot read {local} (a folder written by save_to_disk): {type(exc).__name__}: "
                            f"{exc}") from None
    kwargs: dict[str, Any] = {"name": cfg.name, "revision": cfg.revision, "cache_dir": cfg.cache_dir}
    if int(datasets.__version__.split(".")[0]) < 4:  # from 4 on there are no loading scripts to trust
        kwargs["trust_remote_code"] = cfg.trust_remote_code
    elif cfg.trust_remote_code:
        raise DataError(f"data.source.trust_remote_code: datasets {datasets.__version__} runs no loading scripts. "
                        "Remove the option and use a copy of the dataset in Parquet (many Hub datasets have one "
                        "at revision 'refs/convert/parquet'), or install 'datasets<4'")
    path, where = cfg.path, f"dataset '{cfg.path}'" + (f" (configuration '{cfg.name}')" if cfg.name else "")
    if local.is_file():
        builder = FILE_BUILDERS.get(local.suffix.lower())
        if builder is None:
            raise DataError(f"data.source.path: {local} is a file that datasets has no reader for; give a folder, "
                            f"a Hub id, or a file ending in {', '.join(sorted(FILE_BUILDERS))}")
        path, kwargs["data_files"] = builder, str(local)
        kwargs.update({"delimiter": "\t"} if local.suffix.lower() == ".tsv" else {})
    datasets_offline = os.environ.get("HF_DATASETS_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}
    offline = offline_variable() or ("HF_DATASETS_OFFLINE" if datasets_offline else None)
    from huggingface_hub import constants

    # both libraries read HF_HUB_OFFLINE once, when imported, and neither knows MMFUSION_OFFLINE
    switches = [(datasets.config, "HF_HUB_OFFLINE"), (datasets.config, "HF_DATASETS_OFFLINE"),
                (constants, "HF_HUB_OFFLINE")]
    try:
        with switched_on(*switches if offline else []):
            return datasets.load_dataset(path, **kwargs)
    except _load_errors(datasets) as exc:
        raise DataError(_load_problem(exc, cfg, local, where, offline)) from None


def _load_errors(datasets: Any) -> tuple[type[BaseException], ...]:
    """What loading raises for a wrong id, a missing file, no network or a bad configuration name."""
    errors: list[type[BaseException]] = [OSError, ValueError, RuntimeError, datasets.exceptions.DatasetsError]
    for module, name in (("huggingface_hub.errors", "HfHubHTTPError"), ("httpx", "HTTPError")):
        with contextlib.suppress(ImportError):  # not every huggingface_hub release has them
            errors.append(getattr(importlib.import_module(module), name))
    return tuple(errors)


def _load_problem(exc: BaseException, cfg: HfDatasetsConfig, local: Path, where: str, offline: str | None) -> str:
    """One message per kind of failure, naming the dataset and what to do."""
    detail = f"{type(exc).__name__}: {exc}"
    save = (f"`python -c \"import datasets; datasets.load_dataset('{cfg.path}'"
            + (f", '{cfg.name}'" if cfg.name else "") + ").save_to_disk('FOLDER')\"`")
    if "scripts are no longer supported" in str(exc):
        return (f"{where} is a loading script, which datasets 4 and later no longer run ({exc}). Use a copy in "
                "Parquet or another data format (many Hub datasets have one at revision 'refs/convert/parquet'), "
                "or install 'datasets<4' and set data.source.trust_remote_code: true")
    if local.exists():
        return f"cannot load {where} from {local.resolve()}: {detail}"
    if offline:
        return (f"{where} is not in the local Hugging Face datasets cache, and offline mode is on ({offline}=1), so "
                f"it was not downloaded. Run once with network access (without {offline}) to fill the cache, or "
                f"save a copy where there is network, {save}, and set data.source.path to that folder. ({detail})")
    if isinstance(exc, ConnectionError) or "connect" in type(exc).__name__.lower():
        return (f"cannot reach the Hugging Face Hub for {where} ({detail}). Check the network, or save a copy "
                f"where there is network, {save}, and set data.source.path to that folder. (With MMFUSION_OFFLINE=1 a "
                "copy in the local cache is used without trying the network.)")
    if isinstance(exc, FileNotFoundError) or "NotFound" in type(exc).__name__:
        return (f"{where} is neither a local folder (looked at {local.resolve()}) nor a dataset on the Hugging Face "
                "Hub that this machine may read. Check the id as shown on huggingface.co/datasets (user/name); a "
                f"gated or private dataset needs `hf auth login` first. ({detail})")
    return f"cannot load {where}: {detail}"


def _choose_splits(loaded: Any, splits: HfSplits, shown: str) -> tuple[dict[str, tuple[str, Any]], set[str]]:
    """Table role (train / validation / test) → (the dataset's split name, its Dataset); the roles chosen by auto."""
    if not hasattr(loaded, "keys"):  # one Dataset without splits: it is the training table
        asked = [f"{role}: {name}" for role, name in (("validation", splits.validation), ("test", splits.test))
                 if name not in (None, "auto")]
        if asked:
            raise DataError(f"data.source.splits asks for {', '.join(asked)}, but {shown} is a single dataset "
                            "without splits. Remove those keys (validation and test are then split off it, see "
                            "data.split).")
        return {"train": (str(loaded.split) if loaded.split else "train", loaded)}, set()
    available = [str(name) for name in loaded.keys()]
    chosen, automatic = {}, set()
    for role in ("train", "validation", "test"):
        name = getattr(splits, role)
        if name == "auto":
            name = next((n for n in AUTO_SPLITS[role] if n in available), None)
            automatic.add(role)
        if name is None:
            continue
        if name not in available:
            hint = "" if role == "train" else (" (or leave validation/test out: they are split off train, see "
                                               "data.split)")
            raise DataError(f"data.source.splits.{role}: {shown} has no split '{name}'; its splits are "
                            f"{', '.join(available)}. Name one of them{hint}.")
        chosen[role] = (name, loaded[name])
    return chosen, automatic


def _class_label(datasets: Any, feature: Any) -> Any | None:
    """The ClassLabel of a ClassLabel column, or of a Sequence/List(ClassLabel) column; None otherwise."""
    if isinstance(feature, datasets.ClassLabel):
        return feature
    inner = feature[0] if isinstance(feature, list) and len(feature) == 1 else getattr(feature, "feature", None)
    return inner if isinstance(inner, datasets.ClassLabel) else None


def _to_frame(datasets: Any, dataset: Any) -> pd.DataFrame:
    """The Dataset as a DataFrame: images stay encoded ({bytes, path}), class ids become names."""
    frame = dataset.to_pandas()  # Arrow storage as is: no image is decoded here
    for column, feature in dataset.features.items():
        label = _class_label(datasets, feature)
        if label is None:
            continue
        names = dict(enumerate(str(n) for n in label.names))  # -1 (or a null), "no label", is an empty cell
        if isinstance(feature, datasets.ClassLabel):
            frame[column] = [names.get(v) for v in frame[column].tolist()]
        else:
            frame[column] = [None if v is None else [names.get(x) for x in v] for v in frame[column].tolist()]
    return frame


def _label_column(datasets: Any, features: Any) -> str | None:
    """'label' if there is one, else the only ClassLabel (or Sequence(ClassLabel)) column."""
    if "label" in features:
        return "label"
    labelled = [c for c, f in features.items() if _class_label(datasets, f) is not None]
    return labelled[0] if len(labelled) == 1 else None


def _default_columns(datasets: Any, features: Any, label_column: str | None) -> dict[str, str | list[str]]:
    """The one Image column feeds input 'image', the one text column input 'text' (unless named so already)."""
    images = [c for c, f in features.items() if isinstance(f, datasets.Image)]
    texts = [c for c, f in features.items() if c != label_column and isinstance(f, datasets.Value)
             and f.dtype in ("string", "large_string")]
    return {m: found[0] for m, found in (("image", images), ("text", texts)) if m not in features and len(found) == 1}


@hookimpl
def mmfusion_datasets() -> list[type]:
    return [HfDatasetsDataset]
