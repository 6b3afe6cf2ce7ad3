"""Dataset source ``easy_vqa``: the easy-VQA dataset (pip package easy-vqa), offline.

Each row is a question about a 64×64 image of one coloured shape; the answer (13 classes: shapes,
colours, yes/no) is the label. Neither modality alone answers it, which makes it a good check that
fusion works. Train and test come from the package's own split.

``test_shift: render`` replaces the test pictures by re-rendered ones, a real distribution shift with the same
questions and answers. The answers are about the shape and its colour, so neither changes: the shape's pixels
keep their colour. What changes is the rendering: the flat pale background becomes a striped, mottled one in
darker muted tones, the shape gets a dark outline, and the picture is blurred, noised and JPEG-compressed. A
person still answers every question; a model that learned the clean pictures' look may not. Rendering is
seeded per image, so the same seed gives the same pictures, written once to a cache folder.
"""

from __future__ import annotations

import io
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ..errors import DataError
from ..hookspecs import hookimpl
from ..interfaces.config import DatasetConfig
from ..interfaces.dataset import DatasetSource, DatasetTables
from ..io import read_json, write_atomic, write_json_atomic

#: bump when the rendering changes, so caches of the old style are not reused
RENDER_VERSION = 1
#: how far (sum of absolute RGB differences) a pixel must be from the background to belong to the shape
SHAPE_THRESHOLD = 24


class EasyVQAConfig(DatasetConfig):
    type: Literal["easy_vqa"] = "easy_vqa"
    with_test: bool = Field(True, description="Provide the package's test split as the test table.")
    test_shift: Literal["none", "render"] = Field(
        "none", description="render: the test pictures re-rendered (textured background, outlines, blur, noise, "
        "JPEG), shapes and colours kept, so the labels stay true; train and validation are unchanged.")
    shift_seed: int = Field(0, description="Seed of the re-rendering (test_shift: render).")
    shift_dir: str | None = Field(
        None, description="Folder for the re-rendered pictures (default: easy_vqa/ in the feature cache folder, "
        "$MMFUSION_CACHE_DIR or ~/.cache/mmfusion). Written once, then reused.")


class EasyVQADataset(DatasetSource):
    """Columns: image (path), question (text), answer (label)."""

    name = "easy_vqa"
    Config = EasyVQAConfig
    config: EasyVQAConfig

    def load(self) -> DatasetTables:
        import pandas as pd

        try:
            import easy_vqa
        except ImportError:
            raise DataError("dataset 'easy_vqa' needs the easy-vqa package: `pip install easy-vqa==1.0`") from None

        def table(questions, paths) -> pd.DataFrame:  # type: ignore[no-untyped-def]
            texts, answers, image_ids = questions
            return pd.DataFrame({"image": [paths[i] for i in image_ids], "question": texts, "answer": answers,
                                 "image_id": image_ids})

        train = table(easy_vqa.get_train_questions(), easy_vqa.get_train_image_paths())
        test = (table(easy_vqa.get_test_questions(), self._test_paths(easy_vqa.get_test_image_paths()))
                if self.config.with_test else None)
        test_name = "easy_vqa test" + (" (re-rendered)" if self.config.test_shift == "render" else "")
        return DatasetTables(train=train, test=test, columns={"image": "image", "text": "question"},
                             label_column="answer", labels=list(easy_vqa.get_answers()),
                             names={"train": "easy_vqa train", "test": test_name}, group_column="image_id")

    def _test_paths(self, paths: dict[int, str]) -> dict[int, str]:
        """The package's test pictures, or their re-rendered copies (rendered on first use)."""
        if self.config.test_shift == "none":
            return paths
        from ..data.feature_cache import default_cache_dir

        root = Path(self.config.shift_dir).expanduser() if self.config.shift_dir else default_cache_dir() / "easy_vqa"
        return shifted_paths(paths, root / f"test-render-v{RENDER_VERSION}-seed{self.config.shift_seed}",
                             self.config.shift_seed)


def render(image: Any, seed: int) -> Any:
    """``image`` (an easy-VQA PIL picture) re-rendered: textured background, outline, blur, noise, JPEG."""
    import numpy as np
    from PIL import Image, ImageFilter

    rng = random.Random(seed)
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    height, width, _ = pixels.shape
    colours, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
    background = colours[counts.argmax()]
    # how much of each pixel is shape (anti-aliased edges blend the shape into the background)
    shape = np.clip(np.abs(pixels - background).sum(axis=2) / 255.0, 0, 1)
    mask = Image.fromarray((shape > SHAPE_THRESHOLD / 255.0).astype(np.uint8) * 255)
    outline = np.asarray(mask.filter(ImageFilter.MaxFilter(5)), dtype=np.float32)[..., None] / 255.0

    # background: diagonal stripes between two muted tones, with low-frequency mottling
    hue = np.array([rng.uniform(90, 170) for _ in range(3)], dtype=np.float32)
    other = np.clip(hue + np.array([rng.uniform(-60, 60) for _ in range(3)], dtype=np.float32), 40, 200)
    period, angle = rng.uniform(5, 11), rng.uniform(0, np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    stripes = (np.sin((xs * np.cos(angle) + ys * np.sin(angle)) * 2 * np.pi / period) > 0)[..., None]
    texture = np.where(stripes, hue, other)
    coarse = np.random.default_rng(rng.getrandbits(32)).normal(0, 25, (height // 8, width // 8, 3))
    mottle = np.asarray(Image.fromarray(coarse.astype(np.float32)[..., 0]).resize((width, height), Image.BICUBIC))
    texture = texture + mottle[..., None]

    ink = np.full(3, rng.uniform(10, 40), dtype=np.float32)
    composed = np.where(outline > 0, ink, texture)  # a dark outline two pixels wide around the shape
    alpha = shape[..., None]
    composed = alpha * pixels + (1 - alpha) * composed
    out = Image.fromarray(np.clip(composed, 0, 255).astype(np.uint8))
    out = out.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.8, 1.4)))
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0, 12, (height, width, 3))
    out = Image.fromarray(np.clip(np.asarray(out, dtype=np.float32) + noise, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    out.save(buffer, format="JPEG", quality=rng.randint(15, 30))
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def shifted_paths(paths: Mapping[int, str], folder: Path, seed: int) -> dict[int, str]:
    """Paths of the re-rendered pictures in ``folder``, rendering them the first time.

    ``done.json`` (written last) records what the folder holds, so an interrupted rendering is redone and a
    finished one is reused.
    """
    from PIL import Image

    wanted = {"version": RENDER_VERSION, "seed": seed, "images": len(paths)}
    marker = folder / "done.json"
    out = {image_id: str(folder / f"{image_id}.png") for image_id in paths}
    if marker.is_file() and read_json(marker) == wanted and all(Path(p).is_file() for p in out.values()):
        return out
    for image_id, source in paths.items():
        try:
            with Image.open(source) as original:
                picture = render(original, seed * 1_000_003 + int(image_id))
        except OSError as exc:
            raise DataError(f"easy_vqa test_shift: cannot read test image {source}: {exc}; "
                            "reinstall the package: `pip install --force-reinstall easy-vqa==1.0`") from None
        write_atomic(Path(out[image_id]), lambda tmp, picture=picture: picture.save(tmp, format="PNG"))
    write_json_atomic(marker, wanted)
    return out


@hookimpl
def mmfusion_datasets() -> list[type]:
    return [EasyVQADataset]
