"""Any picture Pillow reads → 8-bit RGB, with each pixel mode's values scaled, not clipped.

``Image.convert("RGB")`` is exact for the 8-bit modes but clips wider ones (a 16-bit grey of
30000/65535 becomes 255, white) and drops alpha, so transparent pixels show whatever colour they
happen to hold. The conventions here, the same for every image mmfusion reads:

- 16-bit greys (``I;16``, ``I;16B``, ``I;16L``, ``I;16N``): value / 257, rounded (65535 → 255).
- 32-bit integers (``I``): read as 16-bit when every value is in 0..65535 (what 16-bit PNGs and
  TIFFs decode to); other ranges have no agreed meaning and are refused, naming the range.
- 32-bit floats (``F``): 0..1 is black..white (× 255, rounded, clipped); NaN is black.
- Alpha (``LA``, ``PA``, ``RGBA``, premultiplied ``La``/``RGBa``, and a ``transparency`` colour or
  palette entry, as in PNG's tRNS) is composited onto white: a transparent pixel is white whatever
  colour it stores, a half-transparent one is blended halfway to white.
- Every other mode (``1``, ``L``, ``P``, ``RGB``, ``RGBX``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``)
  uses Pillow's own conversion, which is exact for them.
"""

from __future__ import annotations

from typing import Any

#: composited under transparent pixels; white, as on the page or screen most such images are made for
BACKGROUND = 255
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N"}
_ALPHA = {"LA", "PA", "RGBA"}
_PREMULTIPLIED = {"La", "RGBa"}


class ImageModeError(ValueError):
    """A picture whose pixel values have no RGB reading mmfusion is willing to guess."""


def to_rgb(image: Any) -> Any:
    """An 8-bit RGB copy of a PIL image (see the module docstring for how each mode is scaled).

    Raises:
        ImageModeError: a 32-bit integer image outside 0..65535, or a mode Pillow cannot convert.
    """
    from PIL import Image

    mode = image.mode
    transparency = image.info.get("transparency")
    if mode in _ALPHA or (transparency is not None and mode in {"1", "L", "P", "RGB"}):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (BACKGROUND,) * 3 + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in _PREMULTIPLIED:
        return _premultiplied(image)
    if mode in _SIXTEEN_BIT or mode in {"I", "F"}:
        return _wide(image, transparency)
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise ImageModeError(f"pixel mode {mode} cannot be converted to RGB ({exc})") from None


def _premultiplied(image: Any) -> Any:
    """Premultiplied colour over the background is colour + background × (1 - alpha): exact over white."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(image).astype(np.int32)
    colour, alpha = pixels[..., :-1], pixels[..., -1:]
    out = np.clip(colour + BACKGROUND * (255 - alpha) // 255, 0, 255).astype(np.uint8)
    if out.shape[-1] == 1:
        out = np.repeat(out, 3, axis=-1)
    return Image.fromarray(out, "RGB")


def _wide(image: Any, transparency: Any) -> Any:
    """16- and 32-bit greys to 8 bits by the conventions above."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(image)
    if image.mode == "F":
        scaled = np.clip(np.nan_to_num(pixels.astype(np.float64), nan=0.0) * 255.0, 0, 255)
        grey = np.rint(scaled).astype(np.uint8)
    else:
        values = pixels.astype(np.int64)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise ImageModeError(
                f"32-bit integer pixels range from {values.min()} to {values.max()}; mmfusion reads mode I "
                "images as 16-bit (0..65535). Save the image as 8- or 16-bit")
        grey = ((values + 128) // 257).astype(np.uint8)  # = round(value / 257); never a tie
        if transparency is not None and not isinstance(transparency, (bytes, tuple)):
            grey[values == int(transparency)] = BACKGROUND
    return Image.fromarray(grey, "L").convert("RGB")
