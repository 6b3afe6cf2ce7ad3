"""Built-in modalities: fingerprints tell different values apart (they key the frozen-feature cache)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from PIL import Image

from mmfusion.default_plugins.modalities import ImageModality, TextModality


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
