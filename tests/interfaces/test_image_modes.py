"""Every pixel mode Pillow reads becomes RGB with its values scaled (16-bit grey is not white; alpha is white)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmfusion.default_plugins.modalities import ImageModality
from mmfusion.errors import DataError
from mmfusion.interfaces.image_modes import to_rgb


def _grey(mode: str, values: list, dtype: str) -> Image.Image:
    image = Image.fromarray(np.array([values], dtype=dtype))
    return image if image.mode == mode else image.convert(mode) if mode != "I;16B" else _big_endian(values)


def _big_endian(values: list) -> Image.Image:
    return Image.frombytes("I;16B", (len(values), 1), np.array(values, dtype=">u2").tobytes())


def _palette(transparent: int | None) -> Image.Image:
    image = Image.new("P", (2, 1))
    image.putpalette([200, 10, 20, 0, 90, 180] + [0] * 762)
    image.putpixel((1, 0), 1)
    if transparent is not None:
        image.info["transparency"] = transparent
    return image


def _with_transparency(image: Image.Image, key: object) -> Image.Image:
    image.info["transparency"] = key
    return image


def _pixels(*rows: tuple) -> Image.Image:
    """A 1-row image from explicit pixel tuples of the mode given first."""
    mode, values = rows[0], rows[1:]
    image = Image.new(mode, (len(values), 1))
    for x, value in enumerate(values):
        image.putpixel((x, 0), value)
    return image


WHITE = (255, 255, 255)
# (id, make the image, file format it round-trips through (None: in memory only), expected RGB pixels)
CASES: list[tuple[str, Callable[[], Image.Image], str | None, list[tuple[int, int, int]]]] = [
    ("1", lambda: _pixels("1", 0, 1), "PNG", [(0, 0, 0), WHITE]),
    ("L", lambda: _pixels("L", 77, 200), "PNG", [(77, 77, 77), (200, 200, 200)]),
    ("L-tRNS", lambda: _with_transparency(_pixels("L", 7, 200), 7), "PNG", [WHITE, (200, 200, 200)]),
    ("LA", lambda: _pixels("LA", (100, 0), (100, 255), (100, 128)), "PNG", [WHITE, (100, 100, 100), (177,) * 3]),
    ("La", lambda: _pixels("La", (50, 128), (0, 0)), None, [(177,) * 3, WHITE]),
    ("P", lambda: _palette(None), "PNG", [(200, 10, 20), (0, 90, 180)]),
    ("P-tRNS", lambda: _palette(1), "PNG", [(200, 10, 20), WHITE]),
    ("P-tRNS-gif", lambda: _palette(1), "GIF", [(200, 10, 20), WHITE]),
    ("PA", lambda: _pixels("PA", (0, 255), (0, 0)), "TIFF", [(0, 0, 0), WHITE]),
    ("RGB", lambda: _pixels("RGB", (1, 2, 3), (250, 128, 0)), "PNG", [(1, 2, 3), (250, 128, 0)]),
    ("RGB-tRNS", lambda: _with_transparency(_pixels("RGB", (1, 2, 3), (9, 9, 9)), (1, 2, 3)), "PNG",
     [WHITE, (9, 9, 9)]),
    ("RGBA", lambda: _pixels("RGBA", (200, 100, 0, 0), (200, 100, 0, 255), (200, 100, 0, 128)), "PNG",
     [WHITE, (200, 100, 0), (227, 177, 127)]),
    ("RGBa", lambda: _pixels("RGBa", (50, 20, 10, 128), (0, 0, 0, 0)), None, [(177, 147, 137), WHITE]),
    ("RGBX", lambda: _pixels("RGBX", (1, 2, 3, 0)), "TIFF", [(1, 2, 3)]),
    ("CMYK", lambda: _pixels("CMYK", (255, 0, 0, 0), (0, 0, 0, 255)), "TIFF", [(0, 255, 255), (0, 0, 0)]),
    ("YCbCr", lambda: _pixels("YCbCr", (128, 128, 128)), "TIFF", [(128, 128, 128)]),
    ("HSV", lambda: _pixels("HSV", (0, 255, 255), (85, 255, 255)), None, [(255, 0, 0), (0, 255, 0)]),
    ("I;16", lambda: _grey("I;16", [30000, 65535, 0, 128, 129], "uint16"), "PNG",
     [(117,) * 3, WHITE, (0, 0, 0), (0, 0, 0), (1, 1, 1)]),
    ("I;16-tiff", lambda: _grey("I;16", [30000, 65535], "uint16"), "TIFF", [(117,) * 3, WHITE]),
    ("I;16B", lambda: _big_endian([30000, 257]), "TIFF", [(117,) * 3, (1, 1, 1)]),
    ("I;16B-memory", lambda: _big_endian([30000, 257]), None, [(117,) * 3, (1, 1, 1)]),
    ("I;16L", lambda: Image.frombytes("I;16L", (2, 1), np.array([30000, 514], "<u2").tobytes()), "TIFF",
     [(117,) * 3, (2, 2, 2)]),
    ("I;16N", lambda: Image.frombytes("I;16N", (1, 1), np.array([30000], "=u2").tobytes()), None, [(117,) * 3]),
    ("I;16-tRNS", lambda: _with_transparency(_grey("I;16", [300, 30000], "uint16"), 300), "PNG",
     [WHITE, (117,) * 3]),
    ("I", lambda: _grey("I", [30000, 65535, 0], "int32"), "TIFF", [(117,) * 3, WHITE, (0, 0, 0)]),
    ("F", lambda: _grey("F", [0.5, 1.0, 2.0, -1.0, float("nan"), 0.2], "float32"), "TIFF",
     [(128,) * 3, WHITE, WHITE, (0, 0, 0), (0, 0, 0), (51,) * 3]),
]


@pytest.mark.parametrize(("make", "fmt", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_mode_loads_as_scaled_rgb(tmp_path: Path, make: Callable[[], Image.Image], fmt: str | None,
                                        expected: list[tuple[int, int, int]]) -> None:
    image = make()
    modality = ImageModality()
    if fmt is None:
        loaded = modality.load(image)
    else:
        path = tmp_path / f"picture.{fmt.lower()}"
        image.save(path, fmt)
        loaded = modality.load(str(path))
    assert loaded.mode == "RGB" and loaded.size == image.size
    assert [loaded.getpixel((x, 0)) for x in range(image.width)] == expected


def test_a_16_bit_png_is_not_white(tmp_path: Path) -> None:
    """The silent wrong result this module exists for: Pillow's convert("RGB") clips 30000/65535 to 255."""
    path = tmp_path / "sixteen.png"
    Image.fromarray(np.full((4, 4), 30000, dtype=np.uint16)).save(path)
    assert Image.open(path).mode.startswith("I")
    assert np.asarray(ImageModality().load(str(path))).tolist() == [[[117] * 3] * 4] * 4


def test_lab_white_stays_white(tmp_path: Path) -> None:
    path = tmp_path / "lab.tiff"
    Image.new("LAB", (1, 1), (255, 128, 128)).save(path)
    assert all(abs(c - 255) <= 1 for c in ImageModality().load(str(path)).getpixel((0, 0)))


def test_in_memory_images_are_copied_not_changed() -> None:
    image = Image.new("RGBA", (1, 1), (9, 9, 9, 0))
    loaded = ImageModality().load(image)
    assert loaded is not image and image.mode == "RGBA" and loaded.getpixel((0, 0)) == WHITE


def test_32_bit_integers_outside_16_bits_are_refused_naming_file_and_range(tmp_path: Path) -> None:
    path = tmp_path / "wide.tiff"
    Image.fromarray(np.array([[-5, 70000]], dtype=np.int32)).save(path)
    with pytest.raises(DataError, match=r"wide\.tiff: 32-bit integer pixels range from -5 to 70000"):
        ImageModality().load(str(path))
    with pytest.raises(DataError, match=r"in-memory I image: .*range from -5 to 70000"):
        ImageModality().load(Image.fromarray(np.array([[-5, 70000]], dtype=np.int32)))


def test_corruptions_read_16_bit_pictures_the_same_way() -> None:
    import random

    from mmfusion.default_plugins.corruptions import GaussianNoise, Occlusion

    sixteen = Image.fromarray(np.full((8, 8), 30000, dtype=np.uint16))
    assert to_rgb(sixteen).getpixel((0, 0)) == (117, 117, 117)
    occluded = np.asarray(Occlusion().apply(sixteen, 0.25, random.Random(0)))
    assert {tuple(p) for p in occluded.reshape(-1, 3)} == {(117, 117, 117), (128, 128, 128)}
    noisy = np.asarray(GaussianNoise().apply(sixteen, 1e-6, random.Random(0)), dtype=np.int64)
    assert np.abs(noisy - 117).max() <= 1
