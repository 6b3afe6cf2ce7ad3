"""Built-in modalities: ``image`` (a path or an in-memory picture) and ``text`` (one or more text cells)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..hookspecs import hookimpl
from ..interfaces.modality import BadValueError, CellContext, Modality, is_empty_cell


class ImageModality(Modality):
    """An image file path (relative paths resolve against the data's image root) or a PIL image."""

    name = "image"
    description = "image file path (or PIL image); empty cell = absent"

    def parse(self, cells: Sequence[Any], context: CellContext) -> Any | None:
        if len(cells) != 1:
            raise BadValueError(f"{context.where()}: an image input reads exactly one column")
        cell = cells[0]
        if is_empty_cell(cell):
            return None
        if hasattr(cell, "convert") and hasattr(cell, "size"):  # a PIL image in a DataFrame cell
            return cell
        path = Path(str(cell).strip()).expanduser()
        if not path.is_absolute() and context.root is not None:
            path = context.root / path
        if not path.is_file():
            raise BadValueError(f"{context.where()}: image file {path} does not exist")
        from PIL import Image

        try:
            with Image.open(path) as image:
                image.verify()
        except Exception as exc:
            raise BadValueError(f"{context.where()}: image file {path} is unreadable ({exc})") from None
        return str(path)

    def load(self, reference: Any) -> Any:
        from PIL import Image

        if not isinstance(reference, str):
            return reference.convert("RGB")
        try:
            with Image.open(reference) as image:
                return image.convert("RGB")
        except Exception as exc:
            raise BadValueError(f"image file {reference} is unreadable ({exc})") from None

    def fingerprint(self, reference: Any) -> str:
        if isinstance(reference, str):
            stat = Path(reference).stat()
            return f"{reference}:{stat.st_size}:{stat.st_mtime_ns}"
        # an in-memory image: its pixels, and its size and mode (equal bytes can be different images)
        digest = hashlib.sha1(f"{reference.mode}:{reference.size}:".encode())
        digest.update(reference.tobytes())
        return digest.hexdigest()


class TextModality(Modality):
    """Text from one or more columns (joined with newlines); all cells empty = absent."""

    name = "text"
    description = "text cell(s); several columns are joined with newlines; empty = absent"
    multiple_columns = True

    def parse(self, cells: Sequence[Any], context: CellContext) -> Any | None:
        parts = [str(cell).strip() for cell in cells if not is_empty_cell(cell)]
        return "\n".join(parts) if parts else None

    def fingerprint(self, reference: Any) -> str:
        return reference if len(reference) < 200 else hashlib.sha1(reference.encode()).hexdigest()


@hookimpl
def mmfusion_modalities() -> list[type]:
    return [ImageModality, TextModality]
