"""A distribution shift for easy-VQA: the test images re-rendered in another style, labels kept true.

The answers are about the shape and its colour, so neither changes: the shape's pixels keep their colour.
What changes is the rendering: the flat pale background becomes a striped, mottled one in darker muted
tones, the shape gets a dark outline, and the picture is blurred, noised and JPEG-compressed. A person
still answers every question; a model that learned the clean pictures' look may not. Rendering is
seeded per image, so the same seed gives the same pictures, written once to a cache folder.
"""

from __future__ import annotations

import io
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..io import read_json, write_atomic, write_json_atomic

#: bump when the rendering changes, so caches of the old style are not reused
RENDER_VERSION = 1
#: how far (sum of absolute RGB differences) a pixel must be from the background to belong to the shape
SHAPE_THRESHOLD = 24


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
