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
            raise BadValueError("an image input reads exactly one column", context)
        cell = cells[0]
        if is_empty_cell(cell):
            return None
        if hasattr(cell, "convert") and hasattr(cell, "size"):  # a PIL image in a DataFrame cell
            return cell
        path = Path(str(cell).strip()).expanduser()
        if not path.is_absolute() and context.root is not None:
            path = context.root / path
        problem = _file_problem(path)
        if problem is None:
            from PIL import Image

            try:
                with Image.open(path) as image:
                    image.verify()  # cheap: checks structure and checksums; decoding waits for load()
            except Exception as exc:
                problem = _open_problem(exc)
        if problem is not None:
            raise BadValueError(problem.format(path=path), context)
        return str(path)

    def load(self, reference: Any) -> Any:
        """An RGB picture: every pixel mode scaled by :func:`mmfusion.data.image_modes.to_rgb`.

        Raises:
            BadValueError: the file cannot be decoded (truncated, damaged), or its pixel values have no RGB
                reading; the message names the file (or says the image was given in memory).
        """
        from PIL import Image

        from ..data.image_modes import ImageModeError, to_rgb

        if not isinstance(reference, str):
            try:
                return to_rgb(reference)
            except ImageModeError as exc:
                raise BadValueError(f"in-memory {reference.mode} image: {exc}") from None
        try:
            with Image.open(reference) as image:
                return to_rgb(image)
        except ImageModeError as exc:
            raise BadValueError(f"image file {reference}: {exc}") from None
        except Exception as exc:
            problem = _file_problem(Path(reference)) or _open_problem(exc)
            raise BadValueError(problem.format(path=reference)) from None

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


def _file_problem(path: Path) -> str | None:
    """What is wrong with a path that should be an image file, before opening it (``{path}`` left to fill)."""
    if path.is_dir():
        return "{path} is a directory, not an image file"
    if not path.exists():
        return "image file {path} does not exist"
    if not path.is_file():
        return "{path} is not a regular file, so not an image file"
    if path.stat().st_size == 0:
        return "image file {path} is empty (0 bytes)"
    return None


def _open_problem(exc: Exception) -> str:
    """Why Pillow could not open or decode a file, in words that say what to do (``{path}`` left to fill)."""
    from PIL import Image, UnidentifiedImageError

    detail = str(exc).replace("{", "{{").replace("}", "}}")
    if isinstance(exc, UnidentifiedImageError):
        return ("image file {path} is not an image Pillow can read (unknown format); check that it is a "
                "PNG, JPEG, TIFF, BMP, GIF or WebP file and not, say, a web page saved under an image name")
    if isinstance(exc, Image.DecompressionBombError):
        return (f"image file {{path}} is too large to decode safely ({detail}); shrink it, or if you trust "
                "it raise PIL.Image.MAX_IMAGE_PIXELS before training from Python")
    if "truncated" in str(exc).lower():
        return f"image file {{path}} is truncated or damaged ({detail}); re-copy or re-export it"
    return f"image file {{path}} is unreadable ({type(exc).__name__}: {detail})"


@hookimpl
def mmfusion_modalities() -> list[type]:
    return [ImageModality, TextModality]
