"""Built-in modalities: fingerprints tell different values apart (they key the frozen-feature cache)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PIL import Image

from mmfusion.default_plugins.modalities import ImageModality, TextModality
from mmfusion.interfaces.modality import BadValueError


def test_in_memory_images_with_equal_bytes_but_other_shapes_differ() -> None:
    modality = ImageModality()
    wide, tall = Image.new("RGB", (64, 32)), Image.new("RGB", (32, 64))
    assert wide.tobytes() == tall.tobytes()
    assert modality.fingerprint(wide) != modality.fingerprint(tall)
    assert modality.fingerprint(Image.new("RGB", (64, 32))) == modality.fingerprint(wide)
    assert modality.fingerprint(Image.new("L", (96, 32))) != modality.fingerprint(wide)


def test_image_files_change_fingerprint_when_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(path)
    before = ImageModality().fingerprint(str(path))
    Image.new("RGB", (8, 8), (0, 0, 255)).save(path)
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert ImageModality().fingerprint(str(path)) != before


def test_texts_are_fingerprinted_by_content() -> None:
    modality = TextModality()
    assert modality.fingerprint("a cat") == modality.fingerprint("a cat") != modality.fingerprint("a dog")


# ----- image cells that do not name a usable picture: each says what the file is, naming file and row ----------
def _parse_image(folder: Path, cell: str) -> None:
    from mmfusion.interfaces.modality import CellContext

    ImageModality().parse([cell], CellContext("train.csv", 7, ("image",), folder, "line"))


def test_a_folder_is_not_called_missing(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    with pytest.raises(BadValueError, match=r"train\.csv line 7 \(column 'image'\): .*photos is a directory, not an "
                                            "image file"):
        _parse_image(tmp_path, "photos")


def test_a_text_file_named_png_is_not_an_image_pillow_can_read(tmp_path: Path) -> None:
    (tmp_path / "fake.png").write_text("<html>not found</html>", encoding="utf-8")
    with pytest.raises(BadValueError, match=r"line 7 .*fake\.png is not an image Pillow can read"):
        _parse_image(tmp_path, "fake.png")


def test_an_empty_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "zero.jpg").write_bytes(b"")
    with pytest.raises(BadValueError, match=r"line 7 .*zero\.jpg is empty \(0 bytes\)"):
        _parse_image(tmp_path, "zero.jpg")


def _png_header(width: int, height: int) -> bytes:
    """A PNG with only a header and an end: enough for Pillow to read its size, nothing to decode."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IEND", b""))


def test_a_decompression_bomb_is_named_as_too_large(tmp_path: Path) -> None:
    (tmp_path / "huge.png").write_bytes(_png_header(20_000, 10_000))  # 200 megapixels, over Pillow's 179
    with pytest.raises(BadValueError, match=r"line 7 .*huge\.png is too large to decode safely .*200000000 pixels"):
        _parse_image(tmp_path, "huge.png")


def test_load_names_a_truncated_file(tmp_path: Path) -> None:
    import numpy as np

    for name in ("cut.png", "cut.jpg"):
        whole = tmp_path / f"whole-{name}"
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(whole)
        data = whole.read_bytes()
        (tmp_path / name).write_bytes(data[:len(data) // 2])
        with pytest.raises(BadValueError, match=rf"image file \S*{name} is truncated or damaged"):
            ImageModality().load(str(tmp_path / name))


def test_truncated_images_are_not_silently_padded() -> None:
    """Pillow fills a cut image with grey when LOAD_TRUNCATED_IMAGES is on; nothing we load may turn it on."""
    from PIL import ImageFile

    from mmfusion.registry import get_registry

    registry = get_registry()
    for name in registry.names("encoder"):
        registry.get("encoder", name)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# ----- image bytes in cells: Hugging Face's {bytes, path} struct (also as read from Parquet) and raw bytes ---------
def _png(colour: tuple[int, int, int], size: tuple[int, int] = (8, 8)) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _parse_cell(cell: object, root: Path | None = None) -> object:
    from mmfusion.interfaces.modality import CellContext

    return ImageModality().parse([cell], CellContext("data.parquet", 3, ("image",), root, "row"))


def test_image_bytes_are_read_from_structs_and_raw_bytes_and_decoded_on_load() -> None:
    from mmfusion.default_plugins.modalities import ImageBytes

    red = _png((255, 0, 0))
    for cell in ({"bytes": red, "path": "red.png"}, red, bytearray(red)):
        reference = _parse_cell(cell)
        assert isinstance(reference, ImageBytes) and reference.data == red
        picture = ImageModality().load(reference)
        assert picture.mode == "RGB" and picture.size == (8, 8) and picture.getpixel((0, 0)) == (255, 0, 0)
    assert "red.png" in repr(_parse_cell({"bytes": red, "path": "red.png"})) and "\\x89" not in repr(
        _parse_cell(red))


def test_a_struct_without_bytes_uses_its_path_and_an_empty_struct_is_absent(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4), (0, 0, 255)).save(tmp_path / "blue.png")
    assert _parse_cell({"bytes": None, "path": "blue.png"}, tmp_path) == str(tmp_path / "blue.png")
    assert _parse_cell({"bytes": None, "path": None}) is None
    assert _parse_cell(None) is None


def test_image_bytes_are_fingerprinted_by_content() -> None:
    modality = ImageModality()
    red, blue = _png((255, 0, 0)), _png((0, 0, 255))
    first, again = _parse_cell({"bytes": red, "path": "a.png"}), _parse_cell(red)
    assert modality.fingerprint(first) == modality.fingerprint(again)  # same picture, other row or name
    assert modality.fingerprint(first) != modality.fingerprint(_parse_cell(blue))
    import pickle  # references travel to data-loader workers

    copy = pickle.loads(pickle.dumps(first))
    assert modality.fingerprint(copy) == modality.fingerprint(first) and copy.data == red


def test_bytes_that_are_not_an_image_name_row_and_column() -> None:
    with pytest.raises(BadValueError, match=r"data\.parquet row 3 \(column 'image'\): cell holds bytes that are not "
                                            r"an image Pillow can read .*<html>"):
        _parse_cell({"bytes": b"<html>not found</html>", "path": None})
    with pytest.raises(BadValueError, match=r"row 3 .*empty \(0 bytes\)"):
        _parse_cell(b"")
    with pytest.raises(BadValueError, match=r"row 3 .*a mapping with keys 'url'"):
        _parse_cell({"url": "http://example.com/a.png"})


def test_truncated_image_bytes_are_named_on_load() -> None:
    from io import BytesIO

    import numpy as np

    buffer = BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    data = buffer.getvalue()
    from mmfusion.default_plugins.modalities import ImageBytes

    with pytest.raises(BadValueError, match=r"image bytes \(cut\.jpg\) are truncated or damaged"):
        ImageModality().load(ImageBytes.of(data[:len(data) // 2], "cut.jpg"))
