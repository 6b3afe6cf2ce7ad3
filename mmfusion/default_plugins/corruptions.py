"""Built-in corruptions for robustness curves: images (noise, blur, occlusion) and text (word dropout, typos).

Intensity runs from 0 (unchanged) to 1 (the strongest setting), in the manner of MultiBench's robustness evaluation.
"""

from __future__ import annotations

import random
import string
from typing import Any

from ..hookspecs import hookimpl
from ..interfaces.corruption import Corruption
from ..interfaces.image_modes import to_rgb


class GaussianNoise(Corruption):
    """Additive Gaussian pixel noise with standard deviation ``intensity`` × the pixel range."""

    name = "gaussian_noise"
    modality = "image"
    description = "pixel noise, std = intensity × 255"

    def corrupt(self, value: Any, intensity: float, rng: random.Random) -> Any:
        import numpy as np
        from PIL import Image

        pixels = np.asarray(to_rgb(value), dtype=np.float32)
        noise = np.random.default_rng(rng.getrandbits(32)).normal(0.0, 255.0 * intensity, pixels.shape)
        return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


class Blur(Corruption):
    """Gaussian blur with a radius of ``intensity`` × 10% of the image's shorter side."""

    name = "blur"
    modality = "image"
    description = "gaussian blur, radius = intensity × 10% of the shorter side"

    def corrupt(self, value: Any, intensity: float, rng: random.Random) -> Any:
        from PIL import ImageFilter

        return value.filter(ImageFilter.GaussianBlur(radius=intensity * 0.1 * min(value.size)))


class Occlusion(Corruption):
    """A grey square covering ``intensity`` of the image's area at a random position."""

    name = "occlusion"
    modality = "image"
    description = "grey square over intensity × area"

    def corrupt(self, value: Any, intensity: float, rng: random.Random) -> Any:
        from PIL import ImageDraw

        image = to_rgb(value)
        width, height = image.size
        side_w, side_h = round(width * intensity ** 0.5), round(height * intensity ** 0.5)
        x, y = rng.randint(0, width - side_w), rng.randint(0, height - side_h)
        ImageDraw.Draw(image).rectangle([x, y, x + side_w - 1, y + side_h - 1], fill=(128, 128, 128))
        return image


class WordDropout(Corruption):
    """Each word is dropped with probability ``intensity``."""

    name = "word_dropout"
    modality = "text"
    description = "drop each word with probability = intensity"

    def corrupt(self, value: Any, intensity: float, rng: random.Random) -> Any:
        return " ".join(word for word in str(value).split() if rng.random() >= intensity)


class Typos(Corruption):
    """Each letter is, with probability ``intensity``, deleted, doubled, swapped or replaced."""

    name = "typos"
    modality = "text"
    description = "per-character edit probability = intensity"

    def corrupt(self, value: Any, intensity: float, rng: random.Random) -> Any:
        chars, out, i = list(str(value)), [], 0
        while i < len(chars):
            c = chars[i]
            if c.isalpha() and rng.random() < intensity:
                edit = rng.randrange(4)
                if edit == 1:
                    out += [c, c]
                elif edit == 2 and i + 1 < len(chars):
                    out += [chars[i + 1], c]
                    i += 1
                elif edit == 3:
                    out.append(rng.choice(string.ascii_lowercase))
                # edit 0: delete
            else:
                out.append(c)
            i += 1
        return "".join(out)


@hookimpl
def mmfusion_corruptions() -> list[type]:
    return [GaussianNoise, Blur, Occlusion, WordDropout, Typos]
