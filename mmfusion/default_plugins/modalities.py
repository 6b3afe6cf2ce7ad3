"""Built-in modalities: ``image`` (a path, encoded bytes or an in-memory picture) and ``text`` (text cells)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from ..hookspecs import hookimpl
from ..interfaces.image_modes import ImageModeError, to_rgb
from ..interfaces.modality import BadValueError, CellContext, Modality, is_empty_cell


@dataclass(frozen=True, eq=False)
class ImageBytes:
    """An encoded image (PNG, JPEG...) held in memory, decoded only when a sample is used.

    Parquet files and Hugging Face datasets store pictures this way; keeping them encoded costs their
    file sizes in memory rather than their pixels. ``digest`` (BLAKE2b of the bytes, the value's identity in the
    feature cache) is computed once, when the cell is read: the cache asks for the fingerprint several times.
    """

    data: bytes
    digest: str
    name: str | None = None  # the file name stored next to the bytes (Hugging Face's ``path``), for messages

    @classmethod
    def of(cls, data: bytes, name: str | None = None) -> ImageBytes:
        return cls(data, hashlib.blake2b(data, digest_size=16).hexdigest(), name)

    def __repr__(self) -> str:  # never the bytes themselves
        return f"ImageBytes({len(self.data)} bytes, {self.name or self.digest[:12]})"


class ImageModality(Modality):
    """An image: a file path (relative paths resolve against the data's image root), encoded bytes, or a PIL image.

    Bytes come as ``bytes`` or as Hugging Face's image struct ``{"bytes": ..., "path": ...}`` (what
    ``datasets`` stores and writes to Parquet); a struct without bytes names a file by its ``path``.
    """

    name = "image"
    description = "image file path, image bytes ({bytes, path} struct) or PIL image; empty cell = absent"

    def parse(self, cells: Sequence[Any], context: CellContext) -> Any | None:
        if len(cells) != 1:
            raise BadValueError("an image input reads exactly one column", context)
        cell = cells[0]
        if isinstance(cell, Mapping):
            cell, name = _struct_cell(cell, context)
            if isinstance(cell, bytes):
                return _parse_bytes(cell, name, context)
        if is_empty_cell(cell):
            return None
        if hasattr(cell, "convert") and hasattr(cell, "size"):  # a PIL image in a DataFrame cell
            return cell
        if isinstance(cell, (bytes, bytearray, memoryview)):
            return _parse_bytes(bytes(cell), None, context)
        path = Path(str(cell).strip()).expanduser()
        if not path.is_absolute() and context.root is not None:
            path = context.root / path
        problem = _file_problem(path) or _verify(path, path=path)
        if problem is not None:
            raise BadValueError(problem, context)
        return str(path)

    def load(self, reference: Any) -> Any:
        """An RGB picture: every pixel mode scaled by :func:`mmfusion.interfaces.image_modes.to_rgb`.

        Raises:
            BadValueError: the file or bytes cannot be decoded (truncated, damaged), or the pixel values have
                no RGB reading; the message names the file (or says the image was given in memory).
        """
        from PIL import Image

        if not isinstance(reference, str | ImageBytes):
            try:
                return to_rgb(reference)
            except ImageModeError as exc:
                raise BadValueError(f"in-memory {reference.mode} image: {exc}") from None
        in_memory = isinstance(reference, ImageBytes)
        try:
            with Image.open(BytesIO(reference.data) if in_memory else reference) as image:
                return to_rgb(image)
        except ImageModeError as exc:
            subject = _bytes_subject(reference.name) if in_memory else f"image file {reference}"
            raise BadValueError(f"{subject}: {exc}") from None
        except Exception as exc:
            problem = (_pillow_problem(exc, name=reference.name) if in_memory
                       else _file_problem(Path(reference)) or _pillow_problem(exc, path=reference))
            raise BadValueError(problem) from None

    def fingerprint(self, reference: Any) -> str:
        if isinstance(reference, str):
            stat = Path(reference).stat()
            return f"{reference}:{stat.st_size}:{stat.st_mtime_ns}"
        if isinstance(reference, ImageBytes):  # by content: the same picture in another row or table is one entry
            return f"bytes:{reference.digest}"
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


def _struct_cell(cell: Mapping[Any, Any], context: CellContext) -> tuple[Any, str | None]:
    """The bytes (preferred) or the path of Hugging Face's ``{bytes, path}`` image struct, and its name."""
    if not {"bytes", "path"} & set(cell):
        keys = ", ".join(repr(k) for k in list(cell)[:8])
        raise BadValueError(f"cell holds a mapping with keys {keys}; an image cell holds a file path, image bytes "
                            "or Hugging Face's image struct {'bytes': ..., 'path': ...}", context)
    data, path = cell.get("bytes"), cell.get("path")
    path = None if is_empty_cell(path) else str(path)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data), path
    if not is_empty_cell(data):
        raise BadValueError(f"the image struct's 'bytes' holds a {type(data).__name__}, not bytes", context)
    return path, path  # no bytes: the struct names a file (or nothing: the image is absent)


def _parse_bytes(data: bytes, name: str | None, context: CellContext) -> ImageBytes:
    problem = (f"{_bytes_subject(name)} are empty (0 bytes), not an image" if not data
               else _verify(BytesIO(data), name=name, data=data))
    if problem is not None:
        raise BadValueError(problem, context)
    return ImageBytes.of(data, name)


def _verify(source: Any, **where: Any) -> str | None:
    """Why Pillow cannot read the picture's structure (cheap: checksums; decoding waits for load()), or None."""
    from PIL import Image

    try:
        with Image.open(source) as image:
            image.verify()
    except Exception as exc:
        return _pillow_problem(exc, **where)
    return None


def _bytes_subject(name: str | None) -> str:
    return "the cell's image bytes" + (f" ({name})" if name else "")


def _file_problem(path: Path) -> str | None:
    """What is wrong with a path that should be an image file, before opening it."""
    if path.is_dir():
        return f"{path} is a directory, not an image file"
    if not path.exists():
        return f"image file {path} does not exist"
    if not path.is_file():
        return f"{path} is not a regular file, so not an image file"
    if path.stat().st_size == 0:
        return f"image file {path} is empty (0 bytes)"
    return None


_FORMATS = "PNG, JPEG, TIFF, BMP, GIF or WebP"


def _pillow_problem(exc: Exception, *, path: Any = None, name: str | None = None, data: bytes | None = None) -> str:
    """Why Pillow could not open or decode an image file (``path``) or a cell's image bytes (``name``: the file
    name stored with them), in words that say what to do."""
    from PIL import Image, UnidentifiedImageError

    subject = f"image file {path} is" if path is not None else f"{_bytes_subject(name)} are"
    if isinstance(exc, UnidentifiedImageError) and path is not None:
        return (f"image file {path} is not an image Pillow can read (unknown format); check that it is a "
                f"{_FORMATS} file and not, say, a web page saved under an image name")
    if isinstance(exc, UnidentifiedImageError):
        start = f"; they start with {data[:16]!r}" if data else ""
        return (f"cell holds bytes that are not an image Pillow can read (unknown format{start}"
                f"{', from ' + name if name else ''}); the column should hold encoded {_FORMATS} files")
    if isinstance(exc, Image.DecompressionBombError):
        return (f"{subject} too large to decode safely ({exc}); shrink it, or if you trust it raise "
                "PIL.Image.MAX_IMAGE_PIXELS before training from Python")
    if "truncated" in str(exc).lower():
        again = "re-copy or re-export it" if path is not None else "re-export the data"
        return f"{subject} truncated or damaged ({exc}); {again}"
    return f"{subject} unreadable ({type(exc).__name__}: {exc})"


@hookimpl
def mmfusion_modalities() -> list[type]:
    return [ImageModality, TextModality]
