"""Distribution shifts of easy-VQA's test split (``test_shift``), each keeping every question's answer.

Pictures: the answers are about the shape and its colour, so neither changes: the shape's pixels keep their
colour. ``render`` replaces the flat pale background by a striped, mottled one in muted tones, outlines the shape
and blurs, noises and JPEG-compresses the picture. ``night`` is another look: a dark gradient background with a
vignette, the shape turned and shrunk, grain and JPEG. A person still answers every question; a model that
learned the clean pictures' look may not. ``noise`` is a failed camera: every picture is pixel noise, so only
the question is left to answer from (what a fused model should then fall back to). Rendering is seeded per
image and written once to a cache folder.

Questions: ``paraphrase`` rewrites each of easy-VQA's 24 question templates into other words (``colour`` for
``color``, "does this picture lack a ..." for "is there not a ...") and puts a typo into some of them; the
shape and colour words are kept, so the answer stays true.
"""

from __future__ import annotations

import io
import random
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..io import read_json, write_atomic, write_json_atomic

#: bump when a rendering changes, so caches of the old style are not reused
RENDER_VERSION = 1
#: how far (sum of absolute RGB differences) a pixel must be from the background to belong to the shape
SHAPE_THRESHOLD = 24
#: the share of paraphrased questions that also get a typo (two letters of one word swapped)
TYPO_RATE = 0.3


def _split(image: Any) -> tuple[Any, Any, Any]:
    """The picture's pixels (float RGB), its background colour and how much of each pixel is shape (0..1)."""
    import numpy as np

    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    colours, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
    background = colours[counts.argmax()]
    # anti-aliased edges blend the shape into the background
    shape = np.clip(np.abs(pixels - background).sum(axis=2) / 255.0, 0, 1)
    return pixels, background, shape


def _jpeg(out: Any, quality: int) -> Any:
    from PIL import Image

    buffer = io.BytesIO()
    out.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def render(image: Any, seed: int) -> Any:
    """``image`` (an easy-VQA PIL picture) re-rendered: textured background, outline, blur, noise, JPEG."""
    import numpy as np
    from PIL import Image, ImageFilter

    rng = random.Random(seed)
    pixels, _, shape = _split(image)
    height, width, _ = pixels.shape
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
    return _jpeg(out, rng.randint(15, 30))


def render_night(image: Any, seed: int) -> Any:
    """``image`` in the ``night`` look: dark gradient background with a vignette, the shape turned by up to 40° and
    shrunk to 70-95 %, grain, JPEG."""
    import numpy as np
    from PIL import Image

    rng = random.Random(seed)
    pixels, _, shape = _split(image)
    height, width, _ = pixels.shape
    # the shape as an RGBA layer, turned and shrunk about the picture's centre
    layer = Image.fromarray(np.dstack([pixels, shape * 255]).astype(np.uint8), "RGBA")
    scale = rng.uniform(0.7, 0.95)
    small = layer.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BICUBIC)
    turned = small.rotate(rng.uniform(-40, 40), resample=Image.BICUBIC, expand=False)
    placed = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    placed.paste(turned, ((width - turned.width) // 2 + rng.randint(-4, 4),
                          (height - turned.height) // 2 + rng.randint(-4, 4)))
    moved = np.asarray(placed, dtype=np.float32)

    top = np.array([rng.uniform(50, 90) for _ in range(3)], dtype=np.float32)
    bottom = np.array([rng.uniform(90, 130) for _ in range(3)], dtype=np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    along = (ys / max(height - 1, 1))[..., None]
    background = (1 - along) * top + along * bottom
    radius = np.sqrt((xs - width / 2) ** 2 + (ys - height / 2) ** 2) / (0.75 * max(width, height))
    background = background * (1 - 0.45 * np.clip(radius, 0, 1) ** 2)[..., None]  # darker corners

    alpha = moved[..., 3:] / 255.0
    composed = alpha * moved[..., :3] + (1 - alpha) * background
    grain = np.random.default_rng(rng.getrandbits(32)).normal(0, 9, (height, width, 1))  # luminance grain
    out = Image.fromarray(np.clip(composed + grain, 0, 255).astype(np.uint8))
    return _jpeg(out, rng.randint(25, 45))


def render_noise(image: Any, seed: int) -> Any:
    """A failed camera: ``image``'s size in coloured pixel noise, nothing of the shape left."""
    import numpy as np
    from PIL import Image

    width, height = image.size
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


#: picture shifts by ``test_shift`` name
PICTURE_STYLES: dict[str, Callable[[Any, int], Any]] = {"render": render, "night": render_night,
                                                        "noise": render_noise}


def shifted_paths(paths: Mapping[int, str], folder: Path, seed: int, style: str = "render") -> dict[int, str]:
    """Paths of the pictures re-rendered in ``style`` in ``folder``, rendering them the first time.

    ``done.json`` (written last) records what the folder holds, so an interrupted rendering is redone and a
    finished one is reused.
    """
    from PIL import Image

    draw = PICTURE_STYLES[style]
    wanted = {"version": RENDER_VERSION, "style": style, "seed": seed, "images": len(paths)}
    marker = folder / "done.json"
    out = {image_id: str(folder / f"{image_id}.png") for image_id in paths}
    if marker.is_file() and read_json(marker) == wanted and all(Path(p).is_file() for p in out.values()):
        return out
    for image_id, source in paths.items():
        try:
            with Image.open(source) as original:
                picture = draw(original, seed * 1_000_003 + int(image_id))
        except OSError as exc:
            raise DataError(f"easy_vqa test_shift: cannot read test image {source}: {exc}; "
                            "reinstall the package: `pip install --force-reinstall easy-vqa==1.0`") from None
        write_atomic(Path(out[image_id]), lambda tmp, picture=picture: picture.save(tmp, format="PNG"))
    write_json_atomic(marker, wanted)
    return out


_THING = r"(?P<thing>\w+)(?P<shape> shape)?"
#: easy-VQA's question templates, each with the paraphrases it may become ({t}: "red shape" or "circle")
_TEMPLATES: list[tuple[re.Pattern[str], list[str]]] = [
    (re.compile(rf"^(is there not a|is no|does the image not contain a) {_THING}( in the image| present)?\?$"),
     ["does this picture lack a {t}?", "is a {t} missing from this picture?", "is this picture without any {t}?",
      "is it true that you cannot see a {t} here?"]),
    (re.compile(rf"^(is there a|is a|does the image contain a) {_THING}( in the image| present)?\?$"),
     ["can you see a {t} in this picture?", "does this picture show a {t}?", "is a {t} visible here?",
      "would you find a {t} in the picture?"]),
    (re.compile(r"^(what color is the|what is the color of the) (?P<thing>\w+)\?$"),
     ["which colour does the {t} have?", "tell me the colour of the {t}.", "the {t} is painted in which colour?"]),
    (re.compile(r"^what shape (is in the image|is present|does the image contain)\?$"),
     ["which kind of figure do you see?", "name the figure in this picture.", "which figure is drawn here?"]),
    (re.compile(r"^what is the (?P<thing>\w+) shape\?$"),
     ["which kind of figure is {t}?", "name the {t} figure.", "the {t} thing is which figure?"]),
]


def paraphrase(question: str, seed: int, keep: frozenset[str] = frozenset()) -> str:
    """``question`` (an easy-VQA template) in other words, sometimes with a typo; the words in ``keep`` (shapes
    and colours) are never misspelled. A question of no known template raises ValueError."""
    rng = random.Random(seed)
    for pattern, choices in _TEMPLATES:
        found = pattern.match(question.strip().lower())
        if found is None:
            continue
        groups = found.groupdict()
        thing = (groups.get("thing") or "") + (groups.get("shape") or "")
        text = rng.choice(choices).format(t=thing)
        if rng.random() < TYPO_RATE:
            words = text.split(" ")
            candidates = [i for i, w in enumerate(words) if len(w) >= 5 and w.strip("?.") not in keep]
            if candidates:
                i = rng.choice(candidates)
                j = rng.randrange(1, len(words[i].rstrip("?.")) - 2)
                w = words[i]
                words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
                text = " ".join(words)
        return text
    raise ValueError(f"not an easy-VQA question template: {question!r}")
